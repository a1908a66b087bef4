using System.Diagnostics;
using ParNet.Cli;
using ParNet.Tests.Data;

namespace ParNet.Tests.Cli;

/// <summary>What the CLI prints for a user to act on: commands that paste as given, and errors that say what is wrong.</summary>
public class UserMessageTests
{
    /// <summary>A --config file whose NumClasses is not the data's said only "the model 1000" (walk E, session 28).</summary>
    [Fact]
    public void A_config_whose_class_count_is_not_the_datas_says_to_set_num_classes()
    {
        using var dir = new TempDirectory();
        string config = dir.File("net.json");
        File.WriteAllText(config, (ParNet.Models.ModelRegistry.Get("parnet_cifar_small") with { Planes = [4, 8, 16], FinalWidth = 16, InChannels = 1, NumClasses = 1000 }).ToJson());
        CliRunner.AssertUserError(CliRunner.Run("train", "--config", config, "--subset", "1", "--test-subset", "1", "--out", dir.File("run")),
                                  "the data has 10 classes, the model 1000 (its configuration's NumClasses: set it to 10 for this data)");
    }

    /// <summary>One of the authors' YAML model files states no classes or channels (their code builds ImageNet's 1000 RGB
    /// classes): training with it on other data was refused, telling the user to set NumClasses, which a YAML file cannot
    /// hold (audit of session 36). It takes the data's, as --model does.</summary>
    [Fact]
    public void An_authors_yaml_model_trains_with_the_datas_classes_and_channels()
    {
        using var dir = new TempDirectory();
        string yaml = dir.File("thin.yaml");
        File.WriteAllText(yaml, "planes: [8, 16, 32, 64]\nnum_blocks: [1, 1, 2, 1]\n");
        var (code, stdout, stderr) = CliRunner.Run("train", "--config", yaml, "--subset", "1", "--test-subset", "1", "--epochs", "1", "--warmup", "0",
                                                   "--out", dir.File("run"));
        Assert.True(code == 0, stderr + stdout);
        var trained = ParNet.Models.ModelConfig.FromJson(File.ReadAllText(Path.Combine(dir.File("run"), "model.json")));
        Assert.Equal((10, 1), (trained.NumClasses, trained.InChannels));
        Assert.Equal([8, 16, 32], trained.Planes);
    }

    /// <summary>eval's hint to give --classes fits a model of fewer classes than the data only: --classes takes classes away
    /// from the data, and a model of more (the authors' 1000-class weights on Fashion-MNIST) was told to give it.</summary>
    [Theory, InlineData(1000, ""), InlineData(5, " (trained on some classes? give --classes as in training, or evaluate with --run)")]
    public void Eval_suggests_classes_only_for_a_model_of_fewer_classes_than_the_data(int classes, string hint)
    {
        using var dir = new TempDirectory();
        var config = ParNet.Models.ModelRegistry.Get("parnet_cifar_small") with { Planes = [4, 8, 16], FinalWidth = 16, InChannels = 1, NumClasses = classes };
        string weights = dir.File("w.safetensors"), json = dir.File("net.json");
        File.WriteAllText(json, config.ToJson());
        using (var model = ParNet.Models.ModelFactory.Create(config)) ParNet.Weights.StateDict.Save(model, weights);
        var result = CliRunner.Run("eval", "--weights", weights, "--config", json, "--subset", "1", "--out", dir.File("report"));
        CliRunner.AssertUserError(result, $"the test data has 10 classes, the model {classes}{hint}");
        Assert.EndsWith($"the model {classes}{hint}\n", result.Err);
    }

    [Theory]
    [InlineData("/tmp/runs/fm-1")]
    [InlineData("/tmp/my run")]
    [InlineData("it's $HOME; `x` \"y\" *")]
    [InlineData("")]
    public void A_quoted_word_reaches_a_shell_command_as_one_argument_unchanged(string word)
    {
        var bash = new ProcessStartInfo("bash", ["-c", $"printf '%s\\n' {ShellWords.Quote(word)} end"]) { RedirectStandardOutput = true };
        using var process = Process.Start(bash)!;
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal($"{word}\nend\n", output);
    }

    [Fact]
    public void A_trial_run_shorter_than_the_recipes_warm_up_is_told_to_give_warmup()
    {
        using var dir = new TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("train", "--recipe", "imagenet", "--data", dir.Path, "--epochs", "2", "--out", dir.File("run")),
            "--epochs 2 is shorter than the 5 warm-up epochs of recipe imagenet: give --warmup N too (0 or more, below 2: a run all warm-up never anneals)");
    }

    /// <summary>`--gamma 0.5 --milestones 0.5` on the default cosine schedule trained exactly as without them, without a word
    /// (cross-command audit, session 43): refused, naming the schedules that read them; with the schedule that reads them, taken.</summary>
    [Fact]
    public void A_schedule_value_the_runs_schedule_does_not_read_is_refused()
    {
        using var dir = new TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("train", "--epochs", "2", "--gamma", "0.5", "--milestones", "0.5", "--out", dir.File("cosine")),
            "--milestones (read by the multistep schedule), --gamma (read by the step and multistep schedules): the run's LR schedule is cosine, " +
            "which does not read them; give --schedule KIND to change it, or leave them out");
        CliRunner.AssertUserError(CliRunner.Run("train", "--recipe", "cifar", "--epochs", "2", "--min-lr", "0.001", "--out", dir.File("multistep")),
            "--min-lr (read by the cosine and linear schedules): the run's LR schedule is multistep, which does not read it; give --schedule KIND to change it, or leave it out");
        Assert.False(Directory.Exists(dir.File("cosine")) || Directory.Exists(dir.File("multistep")));
        var (code, _, stderr) = CliRunner.Run("train", "--subset", "5", "--test-subset", "1", "--epochs", "2", "--warmup", "0", "--width", "8",
                                              "--schedule", "multistep", "--milestones", "0.5", "--gamma", "0.5", "--out", dir.File("read"));
        Assert.True(code == 0, stderr);
    }

    /// <summary>`--epochs 1` of the fashion-mnist recipe (one warm-up epoch) trained with the LR rising all the way and
    /// ended at its peak, without a word (walk of session 34): a warning; with room left for the schedule, none.</summary>
    [Fact]
    public void A_run_that_is_all_warm_up_is_warned_that_its_LR_never_decays()
    {
        using var dir = new TempDirectory();
        var (code, _, stderr) = CliRunner.Run("train", "--subset", "5", "--test-subset", "1", "--epochs", "1", "--width", "8", "--out", dir.File("one"));
        Assert.True(code == 0, stderr);
        Assert.Contains("parnet train: warning: the 1 epoch is all warm-up (--warmup 1): the LR rises to 0.1 and never decays; " +
                        "give --warmup below --epochs (0 for none) for a run that ends annealed\n", stderr.ReplaceLineEndings("\n"));
        (code, _, stderr) = CliRunner.Run("train", "--subset", "5", "--test-subset", "1", "--epochs", "1", "--warmup", "0.5", "--width", "8", "--out", dir.File("half"));
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("warm-up", stderr);
    }

    /// <summary>`--schedule step` on the fashion-mnist recipe steps every 30 epochs (the paper's ImageNet step): a run of 2 kept
    /// its LR at the peak without a word (note 41). A warning naming the options; a step inside the run, none.</summary>
    [Fact]
    public void A_step_schedule_that_never_steps_in_the_run_is_warned()
    {
        using var dir = new TempDirectory();
        var (code, _, stderr) = CliRunner.Run("train", "--subset", "5", "--test-subset", "1", "--epochs", "2", "--warmup", "0", "--width", "8",
                                              "--schedule", "step", "--out", dir.File("never"));
        Assert.True(code == 0, stderr);
        Assert.Contains("parnet train: warning: the LR never steps: one step every 30 epochs (--step-epochs 30) in a run of 2 (--epochs 2); " +
                        "give --step-epochs below 2, or --schedule cosine for a run whose LR decays\n", stderr.ReplaceLineEndings("\n"));
        (code, _, stderr) = CliRunner.Run("train", "--subset", "5", "--test-subset", "1", "--epochs", "2", "--warmup", "0", "--width", "8",
                                          "--schedule", "step", "--step-epochs", "1", "--out", dir.File("steps"));
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("warning", stderr);
    }

    /// <summary>A resume under another process count or batch trained at another global batch (and, where the recipe
    /// scales it, another LR) without a word (walk of session 34): the "resuming at" line says what changed.</summary>
    [Fact]
    public void A_resume_at_another_global_batch_says_so_and_what_the_LR_does()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        CliRunner.TrainTiny(run, "--batch-size", "10", "--warmup", "0");
        var same = CliRunner.Run("train", "--resume", run, "--epochs", "2");
        Assert.True(same.Code == 0, same.Err + same.Out);
        Assert.Contains("\nresuming at the start of epoch 2, step 5\n", same.Out.ReplaceLineEndings("\n"));
        var doubled = CliRunner.Run("train", "--resume", run, "--epochs", "3", "--batch-size", "20");
        Assert.True(doubled.Code == 0, doubled.Err + doubled.Out);
        Assert.Contains("\nresuming at the start of epoch 3, step 10; the run trained at global batch 10 (1 process x 10) and goes on at 20 " +
                        "(1 process x 20): the recipe names no batch to scale its LR from, so the LR stays 0.1\n", doubled.Out.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Zero_epochs_is_told_that_epochs_must_be_at_least_one_not_to_give_warmup()
    {
        // it said "give --warmup N too (0 to 0)", and --warmup 0 then met "epochs must be >= 1" (walk E)
        using var dir = new TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("train", "--epochs", "0", "--out", dir.File("run")), "recipe fashion-mnist: epochs (--epochs) must be >= 1; got 0");
        CliRunner.AssertUserError(CliRunner.Run("train", "--epochs", "-3", "--out", dir.File("run")), "recipe fashion-mnist: epochs (--epochs) must be >= 1; got -3");
    }

    [Fact]
    public void A_random_erasing_probability_above_one_is_refused()
    {
        using var dir = new TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("train", "--erasing", "2", "--epochs", "1", "--out", dir.File("run")),
            "recipe fashion-mnist: the random-erasing probability (--erasing) must be in [0, 1]; got 2");
    }

    [Fact]
    public void A_config_that_is_a_folder_is_called_a_folder()
    {
        // it said "model configuration not found: DIR"
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("models.yaml"));
        foreach (string folder in new[] { dir.Path, dir.File("models.yaml") })
            CliRunner.AssertUserError(CliRunner.Run("train", "--config", folder, "--subset", "1", "--out", dir.File("run")),
                $"model configuration {folder} is a folder, not a file");
    }

    /// <summary>Every recipe refusal names the option that set the value (walk J): "--lr -1" was refused as "recipe
    /// fashion-mnist: learning rate must be positive; got -1", and "--head-dropout 1" as the model's "HeadDropout must be in
    /// [0, 1)", an API name the user had not typed (the model was built before the recipe was checked).</summary>
    [Theory]
    [InlineData("--lr", "-1", "recipe fashion-mnist: the learning rate (--lr) must be positive and finite; got -1")]
    [InlineData("--batch-size", "0", "recipe fashion-mnist: the batch size (--batch-size) must be >= 1; got 0")]
    [InlineData("--momentum", "1", "recipe fashion-mnist: the momentum (--momentum) must be in [0, 1); got 1")]
    [InlineData("--weight-decay", "-0.1", "recipe fashion-mnist: the weight decay (--weight-decay) must be >= 0 and finite; got -0.1")]
    [InlineData("--label-smoothing", "1", "recipe fashion-mnist: the label smoothing (--label-smoothing) must be in [0, 1); got 1")]
    [InlineData("--ema-decay", "1", "recipe fashion-mnist: the EMA decay (--ema-decay) must be in [0, 1); got 1")]
    [InlineData("--backbone-lr-scale", "2", "recipe fashion-mnist: the backbone LR scale (--backbone-lr-scale) must be in (0, 1]; got 2")]
    [InlineData("--step-epochs", "0", "recipe fashion-mnist: the epochs between LR steps (--step-epochs) must be >= 1; got 0")]
    [InlineData("--head-dropout", "1", "recipe fashion-mnist: the dropout before the classifier (--head-dropout) must be in [0, 1); got 1")]
    [InlineData("--block-dropout", "-0.5", "recipe fashion-mnist: the dropout inside the blocks (--block-dropout) must be in [0, 1); got -0.5")]
    [InlineData("--padding", "-1", "recipe fashion-mnist: the random-shift padding (--padding) must be >= 0; got -1")]
    public void A_recipe_value_out_of_range_is_refused_naming_its_option(string option, string value, string message)
    {
        using var dir = new TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("train", option, value, "--out", dir.File("run")), message);
        Assert.False(Directory.Exists(dir.File("run")));
    }

    [Fact]
    public void Nesterov_without_momentum_is_refused_naming_both()
    {
        using var dir = new TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("train", "--momentum", "0", "--out", dir.File("run")),
            "recipe fashion-mnist: Nesterov momentum (--nesterov) needs a momentum > 0; --momentum 0");
    }

    [Theory]
    [InlineData("--min-lr", "-1", "recipe fashion-mnist: the final LR (--min-lr) must be >= 0 and finite; got -1")]
    [InlineData("--gamma", "-1", "recipe fashion-mnist: the LR factor at each step (--gamma) must be positive and finite; got -1")]
    [InlineData("--gamma", "0", "recipe fashion-mnist: the LR factor at each step (--gamma) must be positive and finite; got 0")]
    public void A_schedule_that_would_make_the_LR_negative_or_zero_is_refused(string option, string value, string message)
    {
        // they trained: --min-lr -1 reached LR -1 by the last epoch (gradient ascent, test loss 1316), --gamma -1 flipped its sign every step
        using var dir = new TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("train", option, value, "--schedule", option == "--gamma" ? "step" : "cosine", "--epochs", "2",
                                                "--subset", "1", "--test-subset", "1", "--width", "4", "--out", dir.File("run")), message);
        Assert.False(Directory.Exists(dir.File("run")));
    }

    [Theory]
    // a script's "$VAR" of an unset variable: Path.GetFullPath("") ended these with a stack trace, exit 134 (export after loading)
    [InlineData(new[] { "export", "--model", "parnet_cifar_small", "--out", "" }, "parnet export: --out: an empty value (an unset shell variable?)")]
    [InlineData(new[] { "bench", "--model", "parnet_cifar_small", "--out", "" }, "parnet bench: --out: an empty value (an unset shell variable?)")]
    [InlineData(new[] { "forward", "--weights", "", "--input", "x.safetensors", "--out", "y.safetensors" }, "parnet forward: --weights: an empty value (an unset shell variable?)")]
    [InlineData(new[] { "predict", "--weights", "w.safetensors", "" }, "parnet predict: IMAGE: an empty value (an unset shell variable?)")]
    [InlineData(new[] { "train", "--data", "" }, "parnet train: --data: an empty value (an unset shell variable?)")]
    public void An_empty_value_is_refused_in_one_line(string[] args, string message) => CliRunner.AssertUserError(CliRunner.Run(args), message);

    [Theory]
    // it trained at a constant LR: the recipe has no milestones, and --schedule multistep took none from anywhere
    [InlineData(new[] { "--schedule", "multistep" },
                "recipe fashion-mnist: a multistep schedule needs milestones (--milestones, fractions of training such as 0.3,0.6,0.8); without them the LR would never step")]
    [InlineData(new[] { "--schedule", "multistep", "--milestones", "0.5,x" }, "--milestones 0.5,x: 'x' is not a number (fractions of training, e.g. 0.3,0.6,0.8)")]
    [InlineData(new[] { "--schedule", "multistep", "--milestones", "0.5,1" },
                "recipe fashion-mnist: a milestone (--milestones) must be a fraction of training in (0, 1); got 1")]
    public void A_multistep_schedule_without_milestones_or_with_bad_ones_is_refused(string[] options, string message)
    {
        using var dir = new TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run(["train", .. options, "--epochs", "2", "--subset", "1", "--test-subset", "1", "--width", "4", "--out", dir.File("run")]), message);
        Assert.False(Directory.Exists(dir.File("run")));
    }

    [Fact]
    public void An_image_folder_trains_and_is_evaluated_at_the_image_size_given()
    {
        using var dir = new TempDirectory();
        foreach (var (split, cls, i) in new[] { ("train", "cat", 0), ("train", "cat", 1), ("train", "dog", 2), ("train", "dog", 3), ("val", "cat", 4), ("val", "dog", 5) })
        {
            Directory.CreateDirectory(Path.Combine(dir.Path, "data", split, cls));
            File.WriteAllBytes(Path.Combine(dir.Path, "data", split, cls, $"{i}.png"),
                TempDirectory.EncodeImage(70, 60, (x, y) => ((byte)(x * i), (byte)y, 9), SkiaSharp.SKEncodedImageFormat.Png));
        }
        string run = dir.File("run");
        var (code, stdout, stderr) = CliRunner.Run("train", "--recipe", "imagenet", "--data", dir.File("data"), "--model", "parnet_cifar_small",
                                                   "--epochs", "1", "--warmup", "0", "--image-size", "40", "--out", run);
        Assert.True(code == 0, stderr);
        // the recipe's own side is 224; the data is named by its folder (it read "on imagenet", the layout's name: session 29)
        Assert.Contains($"on imagenet-layout folder {dir.File("data")} (2 classes) 3x40x40, 4 train / 2 test images", stdout);
        var eval = CliRunner.Run("eval", "--run", run, "--out", dir.File("eval"));
        Assert.True(eval.Code == 0, eval.Err);
        Assert.Contains($"on imagenet-layout folder {dir.File("data")} (2 classes) test (2 images, 3x40x40", eval.Out);
        CliRunner.AssertUserError(CliRunner.Run("train", "--recipe", "imagenet", "--data", dir.File("data"), "--image-size", "50", "--out", dir.File("r2")),
            "image size 50: parnet_s: image height and width must be positive multiples of 32");
        CliRunner.AssertUserError(CliRunner.Run("train", "--image-size", "64", "--epochs", "1", "--out", dir.File("r3")),   // fashion-mnist: ignored before
            "--image-size sets the side of an image-folder data set; fashion-mnist has images of its own size");
    }

    [Fact]
    public void Plain_words_stay_unquoted()
    {
        Assert.Equal("parnet bench --out runs/b --only fused,onnx-int8 --repeats=5", "parnet bench " + ShellWords.Join(["--out", "runs/b", "--only", "fused,onnx-int8", "--repeats=5"]));
    }

    [Fact]
    public void Predict_on_a_folder_says_it_is_a_folder_and_goes_on_with_the_other_images()
    {
        using var dir = new TempDirectory();
        string config = dir.File("tiny.json"), image = dir.File("x.png"), folder = dir.File("photos");
        Directory.CreateDirectory(folder);
        File.WriteAllText(config, ParNet.Tests.Models.OfficialParityTests.TinyConfig.ToJson());
        File.WriteAllBytes(image, TempDirectory.EncodeImage(40, 40, (x, y) => ((byte)(x * 6), (byte)(y * 6), 90), SkiaSharp.SKEncodedImageFormat.Png));
        var result = CliRunner.Run("predict", "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors"), "--config", config, "--dataset", "imagenet", folder, image);
        Assert.Equal(1, result.Code);   // one input failed
        Assert.Contains($"parnet predict: {folder}: a folder, not an image", result.Err);
        Assert.Contains(image + "\n  1. ", result.Out.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void An_onnx_file_is_run_as_exported_and_refuses_another_model_or_ema()
    {
        using var dir = new TempDirectory();
        string onnx = dir.File("small.onnx"), image = dir.File("x.png");
        File.WriteAllBytes(image, TempDirectory.EncodeImage(32, 32, (x, y) => ((byte)(x * 8), (byte)(y * 8), 60), SkiaSharp.SKEncodedImageFormat.Png));
        Assert.Equal(0, CliRunner.Run("export", "--model", "parnet_cifar_small", "--out", onnx).Code);
        Assert.Equal(0, CliRunner.Run("predict", "--weights", onnx, image).Code);
        CliRunner.AssertUserError(CliRunner.Run("predict", "--weights", onnx, "--model", "parnet_s", image),
            "exported from parnet_cifar_small, and its graph is that model");
        CliRunner.AssertUserError(CliRunner.Run("predict", "--weights", onnx, "--ema", image), "an .onnx file holds one set");
    }

    [Fact]
    public void Torch_winograd_on_a_model_it_cannot_speed_up_says_so_and_refuses_an_onnx_file()
    {
        using var dir = new TempDirectory();
        string config = dir.File("w12.json"), weights = dir.File("w12.safetensors"), image = dir.File("x.png"), onnx = dir.File("w12.onnx");
        var narrow = ParNet.Models.ModelRegistry.Get("parnet_cifar_small") with { Planes = [12, 20, 36], FinalWidth = 32, BlocksPerStream = [1, 1, 1] };
        File.WriteAllText(config, narrow.ToJson());
        using (var model = ParNet.Models.ModelFactory.Create(narrow)) ParNet.Weights.StateDict.Save(model, weights);
        File.WriteAllBytes(image, TempDirectory.EncodeImage(32, 32, (x, y) => ((byte)(x * 8), (byte)(y * 8), 60), SkiaSharp.SKEncodedImageFormat.Png));

        var result = CliRunner.Run("predict", "--weights", weights, "--config", config, "--dataset", "cifar10", "--engine", "torch-winograd", image);
        Assert.True(result.Code == 0, result.Err);
        Assert.Contains("--engine torch-winograd: no conv of parnet_cifar_small is 3x3, stride 1, with channels per group a multiple of 8; it runs as --engine torch", result.Err);

        Assert.Equal(0, CliRunner.Run("export", "--weights", weights, "--config", config, "--out", onnx).Code);
        CliRunner.AssertUserError(CliRunner.Run("predict", "--weights", onnx, "--engine", "torch-winograd", image), "an .onnx file runs with --engine onnxruntime");
    }

    [Fact]
    public void Weights_without_a_configuration_beside_a_json_that_is_none_say_so()
    {
        using var dir = new TempDirectory();
        string weights = dir.File("w.safetensors");
        File.Copy(Fixtures.Path("parnet_official_tiny_silu.safetensors"), weights);
        File.WriteAllText(dir.File("w.json"), """{ "planes": [16, 32, 64], "num_blocks": [4, 5, 5] }""");   // the authors' facts file
        CliRunner.AssertUserError(CliRunner.Run("convert", "--weights", weights, "--out", dir.File("c.safetensors")),
            "the w.json beside them names no model");
    }
}
