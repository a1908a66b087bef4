using ParNet.Data;
using ParNet.Tests.Data;
using ParNet.Tests.Export;
using ParNet.Tests.Serving;

namespace ParNet.Tests.Cli;

/// <summary>
/// What the newcomers' walks through the README (2026-12-04) ran into: commands that crashed with a stack trace, went
/// on with something the user did not ask for, named the wrong culprit, or took a default meant for another model. Each
/// refusal is now one line on stderr and exit 2.
/// </summary>
public class MisuseRefusalTests
{
    /// <summary>A configuration that is a device (here a link to /dev/zero) was read until the process ran out of memory
    /// (4.3 GB) and aborted with exit code 134.</summary>
    [Theory, InlineData("zero.json"), InlineData("zero.yaml")]
    public void A_configuration_file_without_end_is_refused_not_read_until_memory_runs_out(string name)
    {
        using var dir = new TempDirectory();
        File.CreateSymbolicLink(dir.File(name), "/dev/zero");
        CliRunner.AssertUserError(CliRunner.Run("info", "--config", dir.File(name)), "more than 1,048,576 bytes, larger than any model configuration");
    }

    /// <summary>`--unfused` on an exported .onnx was ignored: predict and serve ran the fused graph the file holds and
    /// said nothing (serve: "(fused) on onnxruntime").</summary>
    [Theory, InlineData("predict"), InlineData("serve")]
    public async Task Unfused_on_an_onnx_file_is_refused_rather_than_ignored(string command)
    {
        using var folder = new ExportTempFolder();
        string weights = ServingTestSupport.TinyFashionWeights(folder), onnx = folder.File("fused.onnx"), image = folder.File("x.png");
        var export = CliRunner.Run("export", "--weights", weights, "--out", onnx);
        Assert.True(export.Code == 0, export.Err);
        File.WriteAllBytes(image, ServingTestSupport.Png(28, 1));
        string[] args = command == "predict" ? ["predict", "--weights", onnx, "--unfused", image] : ["serve", "--weights", onnx, "--unfused", "--port", "0"];
        var result = await Task.Run(() => CliRunner.Run(args)).WaitAsync(TimeSpan.FromSeconds(60));   // serve would listen
        CliRunner.AssertUserError(result, "--unfused keeps trained weights in their training form; an .onnx file runs in the form it was exported in");
    }

    /// <summary>`--unfused` on fused weights (`parnet fuse`'s output) ran them fused and said nothing: --unfused meant "as
    /// stored" (style review, session 29). Fused weights have no training form; predict, serve and export refuse.</summary>
    [Theory, InlineData("predict"), InlineData("serve"), InlineData("export")]
    public async Task Unfused_on_fused_weights_is_refused_rather_than_run_fused(string command)
    {
        using var folder = new ExportTempFolder();
        string weights = ServingTestSupport.TinyFashionWeights(folder), fused = folder.File("fused.safetensors"), image = folder.File("x.png");
        var fuse = CliRunner.Run("fuse", "--weights", weights, "--out", fused);
        Assert.True(fuse.Code == 0, fuse.Err);
        File.WriteAllBytes(image, ServingTestSupport.Png(28, 1));
        string[] args = command switch
        {
            "predict" => ["predict", "--weights", fused, "--unfused", image],
            "serve" => ["serve", "--weights", fused, "--unfused", "--port", "0"],
            _ => ["export", "--weights", fused, "--unfused", "--out", folder.File("m.onnx")],
        };
        var result = await Task.Run(() => CliRunner.Run(args)).WaitAsync(TimeSpan.FromSeconds(60));   // serve would listen
        CliRunner.AssertUserError(result, $"{fused}: fused weights, which have no training form (fusion cannot be undone): give the trained weights they were fused from");
        Assert.False(File.Exists(folder.File("m.onnx")));
        Assert.Equal(0, CliRunner.Run("predict", "--weights", fused, image).Code);   // without --unfused they run, fused
    }

    /// <summary>The other way round (review, session 28): --fused on an .onnx exported in the training form ran that form.</summary>
    [Theory, InlineData("predict"), InlineData("serve")]
    public async Task Fused_on_an_onnx_file_of_the_training_form_is_refused_rather_than_ignored(string command)
    {
        using var folder = new ExportTempFolder();
        string weights = ServingTestSupport.TinyFashionWeights(folder), onnx = folder.File("unfused.onnx"), image = folder.File("x.png");
        var export = CliRunner.Run("export", "--weights", weights, "--unfused", "--out", onnx);
        Assert.True(export.Code == 0, export.Err);
        File.WriteAllBytes(image, ServingTestSupport.Png(28, 1));
        string[] args = command == "predict" ? ["predict", "--weights", onnx, "--fused", image] : ["serve", "--weights", onnx, "--fused", "--port", "0"];
        var result = await Task.Run(() => CliRunner.Run(args)).WaitAsync(TimeSpan.FromSeconds(60));   // serve would listen
        CliRunner.AssertUserError(result, "--fused: this .onnx file holds the training form (exported with --unfused)");
        Assert.Equal(0, CliRunner.Run("predict", "--weights", onnx, image).Code);   // without --fused it runs, as exported
    }

    /// <summary>A ResNet's export holds no fused form either, but not because it was exported --unfused (review, session 28).</summary>
    [Fact]
    public void Fused_on_an_onnx_file_of_a_network_without_a_fused_form_says_so()
    {
        using var folder = new ExportTempFolder();
        string onnx = folder.File("resnet.onnx"), image = folder.File("x.png");
        var export = CliRunner.Run("export", "--model", "resnet12_wide", "--out", onnx);
        Assert.True(export.Code == 0, export.Err);
        File.WriteAllBytes(image, ServingTestSupport.Png(32, 1));
        CliRunner.AssertUserError(CliRunner.Run("predict", "--weights", onnx, "--fused", image), "--fused: resnet12_wide is a ResNetBasic network, which has no fused form");
    }

    [Fact]
    public void The_finetune_recipe_without_pretrained_weights_is_refused_rather_than_training_from_scratch_at_a_tenth_of_the_lr()
    {
        using var dir = new TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("train", "--recipe", "finetune", "--subset", "1", "--epochs", "1", "--out", dir.File("run")),
                                  "--recipe finetune fine-tunes --pretrained W");
        Assert.False(Directory.Exists(dir.File("run")));
    }

    [Fact]
    public void An_input_side_beyond_the_largest_is_refused_instead_of_overflowing_the_counts()
    {
        CliRunner.AssertUserError(CliRunner.Run("info", "--model", "parnet_s", "--image-size", "10000000"), "must be at most 65536; got 10000000x10000000");
        long MultiplyAdds(int side)
        {
            var (code, stdout, err) = CliRunner.Run("info", "--model", "parnet_cifar_small", "--image-size", $"{side}", "--json");
            Assert.True(code == 0, err);
            return System.Text.Json.JsonDocument.Parse(stdout).RootElement.GetProperty("multiply_adds").GetInt64();
        }
        // the largest side still counts, exactly: the maps' share grows with the area, the gates' and head's stays
        long at32 = MultiplyAdds(32), perArea = (MultiplyAdds(64) - at32) / (64 * 64 - 32 * 32);
        Assert.Equal(at32 + perArea * (65536L * 65536 - 32 * 32), MultiplyAdds(65536));
    }

    [SkippableFact]
    public async Task A_tensor_larger_than_the_machine_is_one_line_saying_so_not_libtorchs_native_stack()
    {
        // bench refuses up front a side whose conv outputs surely cannot fit (a lower bound, as train, eval, predict and serve),
        // so the side here is one that bound lets through: 6000 x 6000, whose first conv output alone (about 4.3 GiB) reaches
        // libtorch's allocator beyond the 4 GiB data limit (ulimit -d) `parnet` runs under, on its calling thread, so that the
        // allocation fails at once (a side whose failing allocation came inside an OpenMP worker, 3504, ended in libtorch's
        // std::terminate, exit 134: a limit of the handler, not of this test)
        const int side = 6000;
        using (var model = ParNet.Models.ModelFactory.Create(ParNet.Models.ModelRegistry.Get("parnet_cifar_small")))
            Skip.If(ParNet.Models.Tracing.ForwardMemory.LayerOutputsAliveAtOnce(model.Trace(side, side)).ImagesThatFit < 1,
                    "this machine's memory is below bench's own bound for one image at this side: bench refuses it before any allocation");
        string parnet = Path.Combine(AppContext.BaseDirectory, "parnet.dll");
        var start = new System.Diagnostics.ProcessStartInfo("bash", ["-c", "ulimit -d 4194304 && exec \"$@\"", "bash", "dotnet", parnet, "bench",
            "--model", "parnet_cifar_small", "--image-size", $"{side}", "--batch-size", "1", "--only", "unfused", "--rounds", "1", "--warmup", "0",
            "--out", Path.Combine(Path.GetTempPath(), $"parnet-oom-{Guid.NewGuid():N}")]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(120_000), "parnet bench did not end");
        await stdout;
        Assert.Equal(2, process.ExitCode);   // a user error, after bench's progress lines on stderr: the last line, no stack trace
        Assert.DoesNotContain("   at ", stderr);
        Assert.Matches(@"^parnet bench: out of memory: a tensor of [\d.]+ GiB did not fit \([\d.]+ GiB here\); a smaller batch, input size or model$",
                       stderr.TrimEnd().Split('\n')[^1]);
    }

    [Fact]
    public async Task ONNX_Runtimes_allocation_failure_is_one_line_too()
    {
        // a batch of 5000 at 64 px in ONNX Runtime's arena under a 4 GiB data limit: its exception ended the process with a
        // stack trace, exit 134, where libtorch's gave the line above (bench/export audit, session 41)
        string parnet = Path.Combine(AppContext.BaseDirectory, "parnet.dll");
        var start = new System.Diagnostics.ProcessStartInfo("bash", ["-c", "ulimit -d 4194304 && exec \"$@\"", "bash", "dotnet", parnet, "bench",
            "--model", "parnet_cifar_small", "--image-size", "64", "--batch-size", "5000", "--only", "onnx-sequential", "--warmup", "0", "--rounds", "1",
            "--throughput-rounds", "1", "--threads", "1", "--out", Path.Combine(Path.GetTempPath(), $"parnet-oom-{Guid.NewGuid():N}")])
            { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(120_000), "parnet bench did not end");
        await stdout;
        Assert.Equal(2, process.ExitCode);
        Assert.DoesNotContain("   at ", stderr);
        Assert.Matches(@"^parnet bench: out of memory: ONNX Runtime could not allocate [\d.]+ GiB \([\d.]+ GiB available here\); a smaller batch, input size or model$",
                       stderr.TrimEnd().Split('\n')[^1]);
    }

    [Fact]
    public void Only_libtorchs_allocation_failure_is_read_as_out_of_memory()
    {
        var allocation = new System.Runtime.InteropServices.ExternalException(
            "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to allocate 3221225472 bytes. Error code 12\nframe #0: ...");
        Assert.StartsWith("out of memory: a tensor of 3.0 GiB did not fit (", ParNet.Cli.CommandRunner.OutOfMemory(allocation));
        Assert.Null(ParNet.Cli.CommandRunner.OutOfMemory(new System.Runtime.InteropServices.ExternalException("shape '[2, 3]' is invalid for input of size 5")));
    }

    [Fact]
    public void Weights_given_as_a_checkpoint_folder_name_the_files_inside_it()
    {
        using var dir = new TempDirectory();
        string folder = dir.File("last");
        Directory.CreateDirectory(folder);
        File.Copy(Fixtures.Path("parnet_official_tiny_silu.safetensors"), Path.Combine(folder, "model.safetensors"));
        File.Copy(Fixtures.Path("parnet_official_tiny_silu.safetensors"), Path.Combine(folder, "ema.safetensors"));
        File.Copy(Fixtures.Path("parnet_official_tiny_silu.safetensors"), Path.Combine(folder, "optimizer.safetensors"));   // momentum, not weights
        CliRunner.AssertUserError(CliRunner.Run("export", "--weights", folder, "--out", dir.File("m.onnx")),
                                  $"{folder} is a folder, not a file (it holds ema.safetensors, model.safetensors: give one of those)");
    }

    [Fact]
    public void Weights_given_as_a_run_folder_name_its_last_weights()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run"), last = Path.Combine(run, "checkpoints", "last");
        Directory.CreateDirectory(last);
        File.Copy(Fixtures.Path("parnet_official_tiny_silu.safetensors"), Path.Combine(last, "model.safetensors"));
        CliRunner.AssertUserError(CliRunner.Run("predict", "--weights", run, dir.File("a.png")),
                                  $"{run} is a folder, not a file (a training run: its last weights are {Path.Combine(last, "model.safetensors")})");
        // fine-tuning with its model named reads the weights without the loader that --weights goes through (review, session 28)
        CliRunner.AssertUserError(CliRunner.Run("train", "--pretrained", run, "--model", "parnet_cifar_small", "--subset", "1", "--out", dir.File("tuned")),
                                  $"pretrained weights: {run} is a folder, not a file (a training run: its last weights are {Path.Combine(last, "model.safetensors")})");
    }

    [Fact]
    public void Eval_with_both_a_run_and_weights_says_not_both()
    {
        // ten-crop's views are five crops and their mirrors: --flip added nothing but the time (walk E, session 28)
        CliRunner.AssertUserError(CliRunner.Run("eval", "--weights", "/no/w.safetensors", "--ten-crop", "--flip"),
                                  "--flip with --ten-crop: the ten views are five crops and their mirror images already");
        CliRunner.AssertUserError(CliRunner.Run("eval", "--run", "/no/run", "--weights", "/no/w.safetensors"), "give --run DIR or --weights W, not both");
        CliRunner.AssertUserError(CliRunner.Run("eval"), "give --run DIR or --weights W");
    }

    [Fact]
    public void Eval_with_weights_refuses_a_checkpoint_name_and_ema_of_an_onnx_file_instead_of_ignoring_them()
    {
        // both scored the given file's only weights without a word (walk E)
        CliRunner.AssertUserError(CliRunner.Run("eval", "--weights", "/no/w.safetensors", "--checkpoint", "best"),
                                  "--checkpoint picks a checkpoint of a --run; with --weights give that checkpoint's file");
        CliRunner.AssertUserError(CliRunner.Run("eval", "--weights", "/no/w.onnx", "--ema"),
                                  "--ema picks the EMA weights of a --run or a training checkpoint (.pth.tar); an .onnx file holds one set of weights");
    }

    [Fact]
    public void Eval_of_weights_that_store_no_model_and_do_not_fit_the_recipes_says_to_give_the_model()
    {
        // the authors' tiny network stores no configuration: it was read as the fashion-mnist recipe's model and the refusal
        // listed 111 keys (walk E); predict and fine-tuning already said to give --model or --config
        string weights = Fixtures.Path("parnet_official_tiny_silu.safetensors");
        var result = CliRunner.Run("eval", "--weights", weights, "--subset", "1", "--threads", "1");
        CliRunner.AssertUserError(result, $"{weights}: no model configuration stored with these weights, and they do not fit recipe fashion-mnist's " +
                                          "model parnet_cifar_small_w16; give the network they were trained as with --model NAME or --config FILE");
        Assert.DoesNotContain("unexpected", result.Err);
    }

    [Fact]
    public void A_run_whose_data_folder_moved_is_named_as_the_runs_folder_not_as_a_data_option_the_user_never_gave()
    {
        using var dir = new TempDirectory();
        string data = dir.File("fashion mnist"), run = dir.File("run");
        Directory.CreateDirectory(data);
        foreach (var file in Directory.GetFiles(DataLocations.ResolveFashionMnist(null)))
            File.CreateSymbolicLink(Path.Combine(data, Path.GetFileName(file)), file);
        var trained = CliRunner.Run("train", "--data", data, "--subset", "1", "--test-subset", "1", "--epochs", "1", "--out", run);
        Assert.True(trained.Code == 0, trained.Err + trained.Out);
        Directory.Move(data, dir.File("moved"));

        string message = $"the run's data folder {data} (its run.json) is not there any more; give --data DIR";
        CliRunner.AssertUserError(CliRunner.Run("eval", "--run", run), message);
        CliRunner.AssertUserError(CliRunner.Run("train", "--resume", run, "--epochs", "2"), message);
        var moved = CliRunner.Run("eval", "--run", run, "--data", dir.File("moved"));
        Assert.True(moved.Code == 0, moved.Err + moved.Out);
    }

    [Fact]
    public void Eval_of_an_imagenet_layout_model_defaults_to_its_own_side_not_the_fashion_mnist_recipes_32()
    {
        using var dir = new TempDirectory();
        var config = ParNet.Tests.Models.OfficialParityTests.TinyConfig with { NumClasses = 2 };
        using (var model = ParNet.Models.ModelFactory.Create(config))
            ParNet.Weights.StateDict.Save(model, dir.File("tiny.safetensors"));
        File.WriteAllText(dir.File("tiny.json"), config.ToJson());
        foreach (var split in new[] { "train", "val" })
            foreach (var name in new[] { "ant", "bee" })
            {
                Directory.CreateDirectory(dir.File(Path.Combine("data", split, name)));
                File.WriteAllBytes(dir.File(Path.Combine("data", split, name, "a.png")),
                                   TempDirectory.EncodeImage(40, 30, (x, y) => ((byte)x, (byte)y, 7), SkiaSharp.SKEncodedImageFormat.Png));
            }
        string[] eval = ["eval", "--weights", dir.File("tiny.safetensors"), "--config", dir.File("tiny.json"), "--dataset", "folder", "--data", dir.File("data")];
        var natural = CliRunner.Run([.. eval, "--out", dir.File("e1")]);
        Assert.True(natural.Code == 0, natural.Err);
        Assert.Contains($"3x{config.DefaultImageSize}x{config.DefaultImageSize}", natural.Out);
        var asked = CliRunner.Run([.. eval, "--image-size", "64", "--out", dir.File("e2")]);   // --image-size still decides (--size, its older name, in OnnxEvalCliTests)
        Assert.True(asked.Code == 0, asked.Err);
        Assert.Contains("3x64x64", asked.Out);
    }

    [Fact]
    public void Predict_refuses_a_colour_data_sets_preprocessing_for_a_grey_model()
    {
        using var folder = new ExportTempFolder();
        string weights = ServingTestSupport.TinyFashionWeights(folder);
        string image = folder.File("a.png");
        File.WriteAllBytes(image, TempDirectory.EncodeImage(28, 28, (x, y) => ((byte)x, (byte)x, (byte)x), SkiaSharp.SKEncodedImageFormat.Png));
        CliRunner.AssertUserError(CliRunner.Run("predict", "--weights", weights, "--dataset", "cifar10", image),
                                  "--dataset cifar10 has 3-channel images; the model takes 1");
        var mnist = CliRunner.Run("predict", "--weights", weights, "--dataset", "mnist", image);   // grey, 10 classes: taken
        Assert.True(mnist.Code == 0, mnist.Err);
    }
}
