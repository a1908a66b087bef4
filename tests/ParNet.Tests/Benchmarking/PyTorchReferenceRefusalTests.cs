using ParNet.Tests.Cli;
using ParNet.Tests.Data;

namespace ParNet.Tests.Benchmarking;

/// <summary>
/// bench and train-bench with a PyTorch reference that cannot run: a folder that is no checkout of the authors' code, a
/// Python that is not there, a fixture that is no .safetensors file. Each was found by the child after our side's rows had
/// run, and ended the command with a stack trace (exit 134; audit of session 36). Now one line before anything is timed,
/// and a child that dies is its own words, one line, exit 1.
/// </summary>
public class PyTorchReferenceRefusalTests
{
    const string NoCheckout = ": no simplenet_impl/simpnet.py under it, nor under timm/models or imagenet/timm/models (a checkout of github.com/imankgoyal/NonDeepNetworks)";

    [Fact]
    public void A_folder_without_the_authors_code_is_refused_before_timing()
    {
        using var dir = new TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("bench", "--model", "parnet_s", "--image-size", "64", "--only", "fused,pytorch-fused", "--pytorch-code", dir.Path, "--out", dir.File("out")),
            $"parnet bench: --pytorch-code {dir.Path}{NoCheckout}");
        CliRunner.AssertUserError(CliRunner.Run("train-bench", "--width", "4", "--steps", "1", "--pytorch-code", dir.Path),
            $"parnet train-bench: --pytorch-code {dir.Path}{NoCheckout}");
        Assert.False(Directory.Exists(dir.File("out")));
    }

    /// <summary>Without --only the checks were skipped: the model was built, fused, exported and calibrated before the child
    /// found the folder wanting, exit 1, and a fixture that is no .safetensors file ended in a Python traceback (bench audit).</summary>
    [Fact]
    public void Without_rows_chosen_the_pytorch_settings_are_still_checked_before_timing()
    {
        using var dir = new TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("bench", "--model", "parnet_s", "--image-size", "64", "--threads", "1", "--pytorch-code", dir.Path, "--out", dir.File("out")),
            $"parnet bench: --pytorch-code {dir.Path}{NoCheckout}");
        string fixture = dir.File("afile");
        File.WriteAllText(fixture, "");
        CliRunner.AssertUserError(CliRunner.Run("bench", "--model", "parnet_s", "--image-size", "64", "--threads", "1", "--pytorch-code", Checkout(dir),
                                                "--pytorch-fixture", fixture, "--out", dir.File("out")),
            $"parnet bench: --pytorch-fixture {fixture}: not a .safetensors file (the fixture's weights, parnet_official_tiny_silu.safetensors)");
        Assert.False(Directory.Exists(dir.File("out")), "a refused run made its --out folder");
    }

    /// <summary>A folder laid out as the authors' checkout (an empty simpnet.py is enough for the check).</summary>
    static string Checkout(TempDirectory dir)
    {
        Directory.CreateDirectory(dir.File(Path.Combine("code", "simplenet_impl")));
        File.WriteAllText(dir.File(Path.Combine("code", "simplenet_impl", "simpnet.py")), "");
        return dir.File("code");
    }

    [Fact]
    public void A_missing_python_or_a_fixture_that_is_no_safetensors_file_is_refused_before_timing()
    {
        using var dir = new TempDirectory();
        string code = Checkout(dir), onnx = dir.File("m.onnx");
        File.WriteAllText(onnx, "not weights");
        CliRunner.AssertUserError(CliRunner.Run("bench", "--model", "parnet_s", "--image-size", "64", "--only", "fused,pytorch-fused", "--pytorch-code", code, "--python", dir.File("python")),
            $"parnet bench: --python {dir.File("python")}: not found (Debian's PyTorch: apt-get install python3-torch python3-torchvision)");
        // a file that is there but no program (an image given by mistake): the OS's refusal, a stack trace and exit 134
        File.WriteAllText(dir.File("image.png"), "not a program");
        CliRunner.AssertUserError(CliRunner.Run("bench", "--model", "parnet_s", "--image-size", "64", "--only", "fused,pytorch-fused", "--pytorch-code", code, "--python", dir.File("image.png")),
            $"parnet bench: --python {dir.File("image.png")}: not an executable program (the Python with PyTorch, e.g. /usr/bin/python3)");
        CliRunner.AssertUserError(CliRunner.Run("bench", "--model", "parnet_s", "--image-size", "64", "--only", "fused,pytorch-fused", "--pytorch-code", code, "--pytorch-fixture", onnx),
            $"parnet bench: --pytorch-fixture {onnx}: not a .safetensors file (the fixture's weights, parnet_official_tiny_silu.safetensors)");
    }

    [Fact]
    public void A_child_that_dies_is_reported_in_its_own_words_without_a_stack_trace()
    {
        using var dir = new TempDirectory();
        var (code, stdout, stderr) = CliRunner.Run("train-bench", "--width", "4", "--steps", "1", "--threads", "1", "--pytorch-code", Checkout(dir), "--python", "/bin/false");
        Assert.Equal(1, code);
        Assert.StartsWith("parnet train-bench: PyTorch reference (/bin/false) exited with 1; it ended while this side waited for", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    /// <summary>train-bench's checks sat in its front end, the PyTorch options' rules copied between it and bench (bench
    /// audit): the library refuses the settings, in its own names, and both commands word them by their options.</summary>
    [Fact]
    public void Train_bench_settings_are_refused_by_the_library_and_worded_by_option()
    {
        var model = ParNet.Models.ModelRegistry.Get("parnet_cifar_small");
        Assert.Equal("TrainingBenchmarkOptions.Steps = 0: must be >= 1",
                     Assert.Throws<ParNet.Runtime.InvalidSettingException>(new ParNet.Benchmarking.TrainingBenchmarkOptions { Model = model, Steps = 0 }.Validate).Message);
        CliRunner.AssertUserError(CliRunner.Run("train-bench", "--width", "4", "--steps", "0"), "parnet train-bench: --steps 0: must be >= 1");
        using var dir = new TempDirectory();
        string missing = dir.File("no-checkout");
        Assert.Equal($"PyTorchReferenceOptions.AuthorsCode = {missing}: no such folder (a checkout of github.com/imankgoyal/NonDeepNetworks)",
                     Assert.Throws<ParNet.Runtime.InvalidSettingException>(new ParNet.Benchmarking.PyTorchReferenceOptions { AuthorsCode = missing }.RequireUsable).Message);
        CliRunner.AssertUserError(CliRunner.Run("train-bench", "--width", "4", "--steps", "1", "--pytorch-code", missing),
                                  $"parnet train-bench: --pytorch-code {missing}: no such folder (a checkout of github.com/imankgoyal/NonDeepNetworks)");
        CliRunner.AssertUserError(CliRunner.Run("train-bench", "--width", "4", "--steps", "1", "--python", "/usr/bin/python3"),
                                  "parnet train-bench: --python goes with --pytorch-code DIR");
        CliRunner.AssertUserError(CliRunner.Run("bench", "--model", "parnet_s", "--python", "/usr/bin/python3"),
                                  "parnet bench: --python and --pytorch-fixture go with --pytorch-code DIR");
        CliRunner.AssertUserError(CliRunner.Run("train-bench", "--width", "4", "--steps", "1", "--forward-only", "--pytorch-code", Checkout(dir)),
                                  "parnet train-bench: PyTorch reference: it times training steps (not with --forward-only)");
    }

    /// <summary>A stop between the writes left a new bench.json beside an older bench.md and bench.png (bench audit): the set
    /// is replaced whole, and only by a run that has timed its rows, so a run that fails leaves an earlier set as it was (the
    /// first mend removed it before timing, and every failed run then lost it: review, session 48); other files stay.</summary>
    [Fact]
    public void A_failed_run_leaves_an_earlier_runs_report_as_it_was()
    {
        using var dir = new TempDirectory();
        string output = dir.File("out");
        Directory.CreateDirectory(output);
        foreach (string name in new[] { "bench.json", "bench.md", "bench.png", "notes.txt" }) File.WriteAllText(Path.Combine(output, name), "an earlier run's");
        var (code, _, stderr) = CliRunner.Run("bench", "--model", "parnet_s", "--image-size", "64", "--threads", "1", "--only", "pytorch-resnet18",
                                              "--pytorch-code", Checkout(dir), "--python", "/bin/false", "--out", output);
        Assert.Equal(1, code);
        Assert.Contains("PyTorch reference (/bin/false) exited with 1", stderr);
        // the earlier set is replaced only by a run that has timed its rows: deleted before timing, it was lost to this failure
        Assert.Equal(["bench.json", "bench.md", "bench.png", "notes.txt"], Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.All(Directory.GetFiles(output), f => Assert.Equal("an earlier run's", File.ReadAllText(f)));
    }
}
