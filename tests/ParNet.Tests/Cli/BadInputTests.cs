using System.Text.Json;
using ParNet.Data;
using ParNet.Export;
using ParNet.Tests.Data;
using ParNet.Tests.Models;
using ParNet.Training;
using SkiaSharp;

namespace ParNet.Tests.Cli;

/// <summary>
/// Issue 16's reproductions, as a hostile new user meets them: every bad input is one line on stderr and exit 2 (a
/// NaN stop exit 3), nothing is silently wrong, and a resumed run keeps the options it was started with.
/// </summary>
public class BadInputTests
{
    static readonly string Fixture = Fixtures.Path("parnet_official_tiny_silu.safetensors");

    [Fact]
    public void Predict_refuses_each_decompression_bomb_and_still_classifies_the_images_after_it()
    {
        using var dir = new TempDirectory();
        string weights = dir.File("tiny.safetensors");
        File.Copy(Fixture, weights);
        new DeploymentInfo { Model = OfficialParityTests.TinyConfig, Dataset = "imagenet", ImageSize = 64 }.WriteSidecar(weights);
        var files = DecompressionBombs.All().Select(b => { string p = dir.File($"bomb.{b.Extension}"); File.WriteAllBytes(p, b.Bytes); return p; }).ToList();
        string good = dir.File("good.png");
        File.WriteAllBytes(good, TempDirectory.EncodeImage(64, 64, (x, y) => ((byte)x, (byte)y, 9), SKEncodedImageFormat.Png));
        files.Add(good);

        var (code, stdout, _) = CliRunner.Run(new[] { "predict", "--weights", weights, "--json" }.Concat(files).ToArray());
        Assert.Equal(1, code);
        var results = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(files.Count, results.GetArrayLength());
        for (int i = 0; i < files.Count - 1; i++)
            Assert.Contains("more than the limit", results[i].GetProperty("error").GetString());
        Assert.Equal(5, results[files.Count - 1].GetProperty("top").GetArrayLength());
    }

    /// <summary>Weights holding NaN: predict printed "NaN" as a probability with exit 0, and --json died with a stack trace
    /// (exit 134), every answer lost (an audit of serve and predict, session 45). Each image is an error, as serve's.</summary>
    [Fact]
    public void Predict_says_an_output_that_is_not_finite_is_an_error_for_each_image()
    {
        using var dir = new TempDirectory();
        string weights = dir.File("nan.safetensors");
        var tensors = ParNet.Weights.StateDict.Read(Fixture);
        tensors[ParNet.Models.ImageClassifier.ClassifierKeyPrefix + "bias"][0].fill_(float.NaN);
        ParNet.Weights.StateDict.Write(tensors, weights);
        new DeploymentInfo { Model = OfficialParityTests.TinyConfig, Dataset = "imagenet", ImageSize = 64 }.WriteSidecar(weights);
        string image = dir.File("good.png");
        File.WriteAllBytes(image, TempDirectory.EncodeImage(64, 64, (x, y) => ((byte)x, (byte)y, 9), SKEncodedImageFormat.Png));
        string error = $"{image}: the model's output for this image is not finite (NaN or infinity): its weights hold such values, or overflow";

        var (code, stdout, stderr) = CliRunner.Run("predict", "--weights", weights, "--json", image, image);
        Assert.True(code == 1, stderr);
        var results = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal([error, error], results.EnumerateArray().Select(r => r.GetProperty("error").GetString()));
        Assert.DoesNotContain("   at ", stderr);
        var text = CliRunner.Run("predict", "--weights", weights, image);
        Assert.Equal((1, "", $"parnet predict: {error}\n"), (text.Code, text.Out, text.Err));
    }

    static string WriteTinyConfig(TempDirectory dir)
    {
        string path = dir.File("tiny.json");
        File.WriteAllText(path, OfficialParityTests.TinyConfig.ToJson());
        return path;
    }

    [Fact]
    public void A_resumed_run_keeps_its_subsets_unless_told_otherwise()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        // threads other than this machine's default, which a resume that forgot them would take (fewer: no oversubscription)
        int threads = Environment.ProcessorCount > 1 ? Environment.ProcessorCount - 1 : 2;
        var first = CliRunner.Run("train", "--subset", "2", "--test-subset", "1", "--epochs", "1", "--threads", $"{threads}", "--out", run);
        Assert.True(first.Code == 0, first.Err + first.Out);
        Assert.Contains("20 train / 10 test images", first.Out);

        var resumed = CliRunner.Run("train", "--resume", run, "--epochs", "2");
        Assert.True(resumed.Code == 0, resumed.Err + resumed.Out);
        Assert.Contains("20 train / 10 test images", resumed.Out);
        Assert.Contains($"float32, {threads} thread{(threads == 1 ? "" : "s")};", resumed.Out);
        Assert.Equal(2, Checkpoint.ReadState(Path.Combine(run, "checkpoints", "last")).Epoch);

        var widened = CliRunner.Run("train", "--resume", run, "--epochs", "3", "--test-subset", "3");
        Assert.True(widened.Code == 0, widened.Err + widened.Out);
        Assert.Contains("20 train / 30 test images", widened.Out);

        int eventFiles = Directory.GetFiles(Path.Combine(run, "tensorboard")).Length;
        Assert.Equal(3, eventFiles);   // one per process that trained
        var again = CliRunner.Run("train", "--resume", run);   // finished: says so rather than "resuming at the start of epoch 4"
        Assert.True(again.Code == 0, again.Err + again.Out);
        Assert.Equal(eventFiles, Directory.GetFiles(Path.Combine(run, "tensorboard")).Length);   // and leaves no empty event file
        // the library's event names Recipe.Epochs; the command names its option
        Assert.Contains("\nthe run has already trained its 3 epochs: nothing to do (resume with --epochs N, more than 3, to train further)\n", again.Out);
        Assert.DoesNotContain("resuming", again.Out);
        Assert.Equal(3, Checkpoint.ReadState(Path.Combine(run, "checkpoints", "last")).Epoch);

        File.Delete(Path.Combine(run, RunSettings.FileName));   // without its settings a resume cannot know its subsets
        var unsure = CliRunner.Run("train", "--resume", run, "--subset", "2", "--test-subset", "1");
        Assert.True(unsure.Code == 0, unsure.Err + unsure.Out);
        Assert.Contains("run.json is missing: the run continues on the data, classes and subsets given now", unsure.Err);
        TorchSharp.torch.set_num_threads(Environment.ProcessorCount);   // the process's default again, for the tests after this one
    }

    /// <summary>A second `train --out RUN` replaced the run's checkpoints (best epoch 2 at 55.71% became epoch 1 at 10%), its
    /// run files and metrics, and mixed the TensorBoard events (walk C, session 28).</summary>
    [Fact]
    public void A_new_run_into_a_folder_that_holds_a_run_is_refused_and_the_run_is_left_as_it_was()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        string[] tiny = ["train", "--subset", "2", "--test-subset", "1", "--epochs", "1", "--width", "4", "--threads", "1"];
        var first = CliRunner.Run([.. tiny, "--out", run]);
        Assert.True(first.Code == 0, first.Err + first.Out);
        string state = Path.Combine(run, "checkpoints", "last", "state.json"), metrics = Path.Combine(run, "metrics.csv");
        var before = (File.ReadAllText(state), File.ReadAllText(metrics), File.GetLastWriteTimeUtc(Path.Combine(run, "run.json")));
        CliRunner.AssertUserError(CliRunner.Run([.. tiny, "--seed", "1", "--out", run]),
                                  $"parnet train: --out: {run} holds a training run already (its checkpoints/last), which a new run would overwrite: " +
                                  "continue it with --resume, or give the new run another folder");
        Assert.Equal(before, (File.ReadAllText(state), File.ReadAllText(metrics), File.GetLastWriteTimeUtc(Path.Combine(run, "run.json"))));
    }

    [Fact]
    public void An_exploding_learning_rate_stops_with_exit_3_and_a_checkpoint_that_still_reads()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        // epoch 1 trains at LR 0.1 and saves checkpoints/last; the step schedule then multiplies the LR by 1e31 for epoch 2
        var (code, stdout, stderr) = CliRunner.Run("train", "--subset", "30", "--test-subset", "1", "--epochs", "3", "--schedule", "step",
                                                   "--step-epochs", "1", "--gamma", "1e31", "--warmup", "0", "--out", run);
        Assert.True(code == 3, $"exit {code}\n{stdout}\n{stderr}");
        string last = Path.Combine(run, "checkpoints", "last");
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Matches(@"^parnet train: the loss became (NaN|-?Infinity|-?∞) at epoch 2, batch \d+ \(step \d+, LR 1E\+30\); training stopped; " +
                       $"the last good checkpoint is {System.Text.RegularExpressions.Regex.Escape(last)}\\. Try a lower --lr or more --warmup\\.$", line);

        Assert.Equal(1, Checkpoint.ReadState(last).Epoch);
        using var saved = Checkpoint.Load(last);
        using var model = ParNet.Models.ModelFactory.Create(saved.State.Model);
        ParNet.Weights.StateDict.Load(model, saved.Weights);   // strict: every key and shape of the model
        Assert.All(saved.Weights, kv => Assert.True(TorchSharp.torch.isfinite(kv.Value).all().item<bool>(), $"{kv.Key} is not finite"));
    }

    [Theory]
    [InlineData("--subset", "0")]
    [InlineData("--subset", "-5")]
    [InlineData("--test-subset", "0")]
    [InlineData("--eval-every", "0")]
    public void Subsets_and_intervals_below_one_are_refused(string option, string value)
    {
        using var dir = new TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("train", option, value, "--out", dir.File("run")), $"{option} {value}: must be >= 1");
        Assert.False(Directory.Exists(dir.File("run")));
    }

    [Fact]
    public void Output_paths_that_cannot_be_written_are_one_line_naming_the_path()
    {
        using var dir = new TempDirectory();
        string file = dir.File("a-file");
        File.WriteAllText(file, "x");
        CliRunner.AssertUserError(CliRunner.Run("train", "--subset", "1", "--out", file), $"the run folder {file} cannot be written");
        // a folder the OS will not create: its message alone ("Could not find file '/proc/...'") would not say it is the run folder
        CliRunner.AssertUserError(CliRunner.Run("train", "--subset", "1", "--out", "/proc/parnet-run"), "the run folder /proc/parnet-run cannot be written");
        CliRunner.AssertUserError(CliRunner.Run("fuse", "--weights", Fixture, "--config", WriteTinyConfig(dir), "--out", Path.Combine(file, "fused.safetensors")), file);
        CliRunner.AssertUserError(CliRunner.Run("export", "--weights", Fixture, "--config", WriteTinyConfig(dir), "--out", Path.Combine(file, "m.onnx")), file);
        CliRunner.AssertUserError(CliRunner.Run("forward", "--weights", Fixture, "--config", WriteTinyConfig(dir),
            "--input", Fixtures.Path("parnet_official_tiny_silu.io.safetensors"), "--output", Path.Combine(file, "y.safetensors")), file);
    }

    [Fact]
    public void Forward_refuses_an_output_that_is_its_weights_or_its_input_and_leaves_both_as_they_were()
    {
        // `--output` given the weights' path (options swapped or mistyped) replaced the weights with two rows of logits
        using var dir = new TempDirectory();
        string weights = dir.File("w.safetensors"), input = dir.File("x.safetensors");
        File.Copy(Fixture, weights);
        File.Copy(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"), input);
        string config = WriteTinyConfig(dir);
        CliRunner.AssertUserError(CliRunner.Run("forward", "--weights", weights, "--config", config, "--input", input, "--output", weights),
            $"--output {weights} is the --weights file");
        CliRunner.AssertUserError(CliRunner.Run("forward", "--weights", weights, "--config", config, "--input", input,
            "--output", Path.Combine(dir.Path, ".", "x.safetensors")), "is the --input file");
        Assert.Equal(File.ReadAllBytes(Fixture), File.ReadAllBytes(weights));
        Assert.Equal(File.ReadAllBytes(Fixtures.Path("parnet_official_tiny_silu.io.safetensors")), File.ReadAllBytes(input));
    }

    [Fact]
    public void Forward_names_a_missing_input_as_the_input_not_the_weights()
    {
        using var dir = new TempDirectory();
        var result = CliRunner.Run("forward", "--weights", Fixture, "--config", WriteTinyConfig(dir), "--input", "/no/such/input.safetensors", "--output", dir.File("y.safetensors"));
        CliRunner.AssertUserError(result, "input tensor file not found: /no/such/input.safetensors");
    }

    /// <summary>A FIFO named as weights held predict (and eval, serve) for ever in open(), waiting for a writer (an export audit
    /// of session 48), and eval and bench with a model given still did, reading the weights' metadata first (final read,
    /// session 48); it is refused before it is opened, whatever its name says it holds. Run on a task with a deadline, so
    /// that a regression fails rather than hangs the suite.</summary>
    [Theory]
    [InlineData("weights.safetensors", "weights: ", "predict")]
    [InlineData("model.onnx", "ONNX model: ", "predict")]
    [InlineData("weights.safetensors", "weights: ", "eval")]
    [InlineData("weights.safetensors", "weights: ", "bench")]
    public async Task A_fifo_given_as_weights_is_refused_not_waited_on(string name, string what, string command)
    {
        using var dir = new TempDirectory();
        string fifo = dir.Fifo(name), image = dir.File("image.png");
        File.WriteAllBytes(image, [1]);
        string[] args = command switch
        {
            "predict" => ["predict", "--weights", fifo, image],
            "eval" => ["eval", "--weights", fifo, "--model", "parnet_cifar_small", "--subset", "1", "--out", dir.File("eval")],
            _ => ["bench", "--weights", fifo, "--model", "parnet_cifar_small", "--only", "fused", "--out", dir.File("bench")],
        };
        var run = Task.Run(() => CliRunner.Run(args));
        Assert.True(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(60))) == run, $"{command} still waits on the FIFO after 60 s");
        CliRunner.AssertUserError(await run, $"{what}{fifo} is a FIFO, not a regular file");
    }

    [Fact]
    public void A_truncated_pt_file_is_named_in_the_error()
    {
        using var dir = new TempDirectory();
        string pt = dir.File("truncated.pt");
        var bytes = File.ReadAllBytes(Fixtures.Path("parnet_official_tiny_silu.pt"));
        File.WriteAllBytes(pt, bytes[..(bytes.Length / 2)]);
        CliRunner.AssertUserError(CliRunner.Run("forward", "--weights", pt, "--config", WriteTinyConfig(dir),
            "--input", Fixtures.Path("parnet_official_tiny_silu.io.safetensors"), "--output", dir.File("y.safetensors")), pt);
    }

    /// <summary>The counts by hand, as ModelConfig.MinimumParameterCount bounds them: the classifier's FinalWidth x NumClasses
    /// weights (its biases left out) and 9 x planes^2 for each stream's blocks after the first (the downsampling one left out).
    /// Row 1: 1280 x 1000 + 4 x 9 x 1e6^2 + 5 x 9 x 2e6^2 + 5 x 9 x 4e6^2 = 936,000,001,280,000; x 4 bytes / 2^30 = 3,486,871.7 GiB.
    /// Row 2: 1280 x 2147483647 = 2,748,779,068,160 + 4 x 9 x 96^2 + 5 x 9 x 192^2 + 5 x 9 x 384^2 = 8,626,176, together
    /// 2,748,787,694,336; x 4 bytes / 2^30 = 10,240.0 GiB.</summary>
    [Theory]
    [InlineData("""{"Planes": [1000000, 2000000, 4000000], "FinalWidth": 1280, "BlocksPerStream": [5, 6, 6]}""", "936,000,001,280,000", "3,486,871.7")]
    [InlineData("""{"Planes": [96, 192, 384], "FinalWidth": 1280, "BlocksPerStream": [5, 6, 6], "NumClasses": 2147483647}""", "2,748,787,694,336", "10,240.0")]
    public void Configurations_too_large_for_memory_are_refused_with_the_numbers_before_allocating(string json, string parameters, string gib)
    {
        using var dir = new TempDirectory();
        string config = dir.File("huge.json");
        File.WriteAllText(config, json);
        var result = CliRunner.Run("info", "--config", config);
        CliRunner.AssertUserError(result, $"parnet info: {config}: custom: at least {parameters} parameters, {gib} GiB of float32 weights alone " +
                                          "(training needs ~4x: gradients, momentum, a copy), more than the ");
        var memory = System.Text.RegularExpressions.Regex.Match(result.Err.TrimEnd(), @"more than the ([0-9,]+\.[0-9]) GiB of memory here$");
        Assert.True(memory.Success, result.Err);
        double here = double.Parse(memory.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(here, 0.1, double.Parse(gib, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]   // each built nothing and threw from a block's constructor: an unhandled exception and its stack trace
    [InlineData("""{"Planes": [16, 32, 63], "FinalWidth": 128, "BlocksPerStream": [1, 1, 1]}""", "Planes[2] must be even")]
    [InlineData("""{"Planes": [16, 33], "FinalWidth": 128, "BlocksPerStream": [1, 1]}""", "Planes[1] must be even")]
    [InlineData("""{"Planes": [16, 32, 64], "FinalWidth": 128, "BlocksPerStream": [1, 1, 1], "BlockType": "ResNetBasic"}""",
                "a ResNet's FinalWidth is its last stage width (64); got 128")]
    public void Configurations_the_blocks_cannot_build_are_refused_in_one_line(string json, string message)
    {
        using var dir = new TempDirectory();
        string config = dir.File("odd.json");
        File.WriteAllText(config, json);
        CliRunner.AssertUserError(CliRunner.Run("info", "--config", config), message);
    }

    [Fact]
    public void Image_folders_whose_val_classes_differ_from_train_are_refused_naming_the_differences()
    {
        using var dir = new TempDirectory();
        void Image(string split, string cls, int i)
        {
            Directory.CreateDirectory(Path.Combine(dir.Path, split, cls));
            File.WriteAllBytes(Path.Combine(dir.Path, split, cls, $"{i}.png"), TempDirectory.EncodeImage(40, 40, (x, y) => ((byte)(x * i), (byte)y, 0), SKEncodedImageFormat.Png));
        }
        foreach (var cls in new[] { "cat", "dog" }) { Image("train", cls, 1); Image("train", cls, 2); }
        Image("val", "cat", 3); Image("val", "wolf", 4);   // "dog" renamed: same count, other labels
        var result = CliRunner.Run("train", "--dataset", "folder", "--data", dir.Path, "--epochs", "1", "--out", dir.File("run"));
        CliRunner.AssertUserError(result, "class lists differ");
        Assert.Contains("has 1 class not in the training data (folder): wolf", result.Err);
        Assert.Contains("lacks 1 class of the training data (folder): dog", result.Err);
    }

    /// <summary>Runs a command line, returning its exit code.</summary>
    static int Sh(string command)
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/bin/sh", ["-c", command])
            { RedirectStandardError = true, RedirectStandardOutput = true })!;
        p.WaitForExit();
        return p.ExitCode;
    }

    [SkippableFact]
    public void A_full_disk_is_one_line_naming_the_file_and_the_last_checkpoint_survives()
    {
        using var dir = new TempDirectory();
        string disk = dir.File("disk");
        Directory.CreateDirectory(disk);
        // an 8 MiB tmpfs: a real ENOSPC from the kernel. Mounting needs root (CI runs as root, as .ci/run installs packages)
        bool mounted = Sh($"mount -t tmpfs -o size=8m tmpfs '{disk}'") == 0;
        if (!mounted) Assert.NotEqual("root", Environment.UserName);   // root must be able to mount it: a failure there is a failure
        Skip.IfNot(mounted, $"mounting a tmpfs needs root, and this test runs as {Environment.UserName}: no full disk to fill");
        try
        {
            // epoch 1 writes checkpoints last and best (2.8 MB each) and fits; epoch 2 writes a third copy first
            // (atomic replacement) and finds the disk full
            string run = Path.Combine(disk, "run");
            var train = CliRunner.Run("train", "--subset", "1", "--test-subset", "1", "--epochs", "2", "--out", run);
            CliRunner.AssertUserError(train, disk);
            Assert.Contains("No space left on device", train.Err);
            Assert.Equal(1, Checkpoint.ReadState(Path.Combine(run, "checkpoints", "last")).Epoch);
            Assert.Equal(["best", "last"], Directory.GetDirectories(Path.Combine(run, "checkpoints")).Select(Path.GetFileName).Order());

            var convert = CliRunner.Run("convert", "--weights", Fixture, "--config", WriteTinyConfig(dir), "--out", Path.Combine(disk, "w.safetensors"));
            CliRunner.AssertUserError(convert, disk);
            Assert.False(File.Exists(Path.Combine(disk, "w.safetensors")));
            Assert.Empty(Directory.GetFiles(disk, "w.safetensors*"));   // nor its temporary file
        }
        finally { Sh($"umount '{disk}'"); }
    }
}
