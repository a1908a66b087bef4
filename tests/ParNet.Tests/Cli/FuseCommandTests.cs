using ParNet.Cli;
using ParNet.Fusion;
using ParNet.Tests.Fusion;
using ParNet.Tests.Models;
using ParNet.Weights;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ParNet.Tests.Cli;

public class FuseCommandTests
{
    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = CommandRunner.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>`fuse --weights W --out W` wrote the fused form over the trained weights (a run's checkpoint), which
    /// cannot be trained, resumed or unfused again.</summary>
    [Fact]
    public void Fuse_refuses_to_write_over_its_own_input_and_leaves_it_as_it_was()
    {
        using var folder = new TempFolder();
        string config = folder.File("tiny.json");
        File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());
        string weights = folder.File("trained.safetensors");
        File.Copy(Fixtures.Path("parnet_official_tiny_silu.safetensors"), weights);
        var before = File.ReadAllBytes(weights);
        string link = folder.File("link.safetensors");
        File.CreateSymbolicLink(link, weights);

        foreach (string output in new[] { weights, Path.Combine(folder.File("."), "trained.safetensors"), link })
        {
            var result = Run("fuse", "--config", config, "--weights", weights, "--out", output);
            CliRunner.AssertUserError(result, "is the --weights file itself");
            Assert.Equal(before, File.ReadAllBytes(weights));
        }
    }

    [Fact]
    public void Fuse_writes_weights_that_reproduce_the_official_fused_logits()
    {
        using var folder = new TempFolder();
        string config = folder.File("tiny.json");
        File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());
        string output = folder.File("out/tiny_fused.safetensors");

        var (code, stdout, stderr) = Run("fuse", "--config", config, "--weights", Fixtures.Path("parnet_official_tiny_silu.pt"), "--out", output);
        Assert.True(code == 0, stderr);
        Assert.Contains("574,792", stdout);

        using var fused = ParNetFuser.CreateFused(OfficialParityTests.TinyConfig);
        StateDict.Load(fused, output);
        fused.eval();
        var io = Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"));
        using var noGrad = no_grad();
        Assert.True(OfficialParityTests.RelativeL2(fused.call(io["input"]), io["logits_fused"]) <= 1e-5);
    }

    [Fact]
    public void Forward_accepts_the_weights_fuse_wrote_and_gives_the_fused_logits()
    {
        using var folder = new TempFolder();
        string config = folder.File("tiny.json");
        File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());
        string fusedWeights = folder.File("tiny_fused.safetensors");
        Assert.Equal(0, Run("fuse", "--config", config, "--weights", Fixtures.Path("parnet_official_tiny_silu.pt"), "--out", fusedWeights).Code);

        string ioPath = Fixtures.Path("parnet_official_tiny_silu.io.safetensors");
        string output = folder.File("logits.safetensors");
        var (code, _, stderr) = Run("forward", "--config", config, "--weights", fusedWeights, "--input", ioPath, "--output", output);
        Assert.True(code == 0, stderr);
        var io = Safetensors.LoadStateDict(ioPath);
        Assert.True(OfficialParityTests.RelativeL2(Safetensors.LoadStateDict(output)["logits"], io["logits_fused"]) <= 1e-5);
    }

    [Fact]
    public void Forward_fused_fuses_trained_weights_after_loading()
    {
        using var folder = new TempFolder();
        string config = folder.File("tiny.json");
        File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());
        string ioPath = Fixtures.Path("parnet_official_tiny_silu.io.safetensors");
        string output = folder.File("logits.safetensors");
        var (code, _, stderr) = Run("forward", "--config", config, "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors"), "--fused",
            "--input", ioPath, "--output", output);
        Assert.True(code == 0, stderr);
        var io = Safetensors.LoadStateDict(ioPath);
        Assert.True(OfficialParityTests.RelativeL2(Safetensors.LoadStateDict(output)["logits"], io["logits_fused"]) <= 1e-5);
    }

    /// <summary>{W} stands for a real weights file (the authors' tiny fixture, copied) with no configuration stored with it
    /// and no sidecar beside it, so that "no model" is refused for the missing model, not for a missing file.</summary>
    [Theory]
    [InlineData("Option '--weights' is required.", "fuse", "--model", "parnet_s", "--out", "x.safetensors")]
    [InlineData("Option '--out' is required.", "fuse", "--model", "parnet_s", "--weights", "w.safetensors")]
    [InlineData("{W}: no model configuration stored with these weights; give --model NAME or --config FILE (or put a sidecar w.json next to them)",
                "fuse", "--weights", "{W}", "--out", "x.safetensors")]
    [InlineData("give --model or --config, not both", "fuse", "--model", "parnet_s", "--config", "c.json", "--weights", "w", "--out", "x.safetensors")]
    [InlineData("unknown model 'no_such_model'; known models: parnet_s, parnet_s92, parnet_m, parnet_l, parnet_xl, parnet_cifar_small, " +
                "parnet_cifar_medium, parnet_cifar_large, resnet12_wide",
                "fuse", "--model", "no_such_model", "--weights", "w.safetensors", "--out", "x.safetensors")]
    [InlineData("resnet12_wide: only ParNet (RepVGG-SSE) models can be fused; this one is ResNetBasic, which has an activation between its convs and so no single-conv form",
                "fuse", "--model", "resnet12_wide", "--weights", "w.safetensors", "--out", "x.safetensors")]
    [InlineData("weights file not found: /no/such/file.safetensors",
                "fuse", "--model", "parnet_s", "--weights", "/no/such/file.safetensors", "--out", "x.safetensors")]
    [InlineData("unknown option: --typo (see --help)", "fuse", "--model", "parnet_s", "--weights", "w.safetensors", "--out", "x.safetensors", "--typo", "1")]
    public void Bad_arguments_exit_2_with_one_line(string message, params string[] args)
    {
        using var folder = new TempFolder();
        string weights = folder.File("w.safetensors");
        File.Copy(Fixtures.Path("parnet_official_tiny_silu.safetensors"), weights);
        string output = folder.File("x.safetensors");   // in the test's folder: the refusal writes nothing there
        var result = Run(args.Select(a => a.Replace("{W}", weights).Replace("x.safetensors", output)).ToArray());
        CliRunner.AssertUserError(result, "");
        Assert.Equal($"parnet fuse: {message.Replace("{W}", weights)}", result.Err.TrimEnd('\n'));
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Fuse_and_forward_name_the_out_path_they_cannot_write_in_one_line()
    {
        using var folder = new TempFolder();
        string config = folder.File("tiny.json");
        File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());
        string file = folder.File("a-file"), output = Path.Combine(file, "tiny_fused.safetensors");   // its folder cannot be made
        File.WriteAllText(file, "x");
        var fuse = CliRunner.Run("fuse", "--config", config, "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors"), "--out", output);
        CliRunner.AssertUserError(fuse, $"parnet fuse: {output}: its folder cannot be made: {file} is a file, not a folder");
        Assert.False(File.Exists(output));

        string logits = folder.File("logits.safetensors");   // a folder with a safetensors name
        Directory.CreateDirectory(logits);
        var forward = CliRunner.Run("forward", "--config", config, "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors"),
            "--input", Fixtures.Path("parnet_official_tiny_silu.io.safetensors"), "--output", logits);
        CliRunner.AssertUserError(forward, $"parnet forward: {logits} is a directory, not a regular file; not replaced");
        Assert.Empty(Directory.GetFileSystemEntries(logits));
    }

    [Fact]
    public void Weights_that_do_not_match_the_model_exit_2_and_write_nothing()
    {
        using var folder = new TempFolder();
        string output = folder.File("fused.safetensors");
        string weights = Fixtures.Path("parnet_official_tiny_silu.safetensors");
        var result = Run("fuse", "--model", "parnet_s", "--weights", weights, "--out", output);
        // the tiny fixture has planes 16/32/64 and final width 128; ParNet-S 64 (stem), 96/192/384 and 1280
        CliRunner.AssertUserError(result, $"parnet fuse: {weights} do not match the model parnet_s, nothing was loaded; 315 mis-shaped: " +
                                          "inits.0.0.block.rbr_dense.conv.weight (model [64,3,3,3], file [16,3,3,3]), ");
        Assert.EndsWith(" (and 305 more)", result.Err.TrimEnd());   // the first ten named: a line, not 21 KB (walk F, session 29)
        Assert.InRange(result.Err.Length, 500, 2000);
        Assert.False(File.Exists(output));
    }
}
