using ParNet.Models;
using ParNet.Tests.Data;

namespace ParNet.Tests.Cli;

/// <summary>Walk F's (session 29) smaller findings: a configuration named by an empty string or a line break garbled every
/// header and message that starts with the name; `forward --output y.txt` wrote safetensors under a .txt name.</summary>
public class NamesAndOutputsTests
{
    [Theory, InlineData(""), InlineData("two\nlines")]
    public void A_configuration_name_that_is_not_one_line_of_text_is_refused(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => (ModelRegistry.Get("parnet_cifar_small") with { Name = name }).Validate());
        Assert.Equal($"the model's Name must be a non-empty line of text; got {System.Text.Json.JsonSerializer.Serialize(name)}", e.Message);
    }

    [Fact]
    public void Forward_writes_only_to_a_safetensors_name()
    {
        using var dir = new TempDirectory();
        var result = CliRunner.Run("forward", "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors"), "--input",
                                   Fixtures.Path("parnet_official_tiny_silu.io.safetensors"), "--output", dir.File("y.txt"));
        CliRunner.AssertUserError(result, $"--output must be a .safetensors file; got '{dir.File("y.txt")}'");
        Assert.False(File.Exists(dir.File("y.txt")));
        // --out, the name every other command gives its output, is forward's too, and refusals name what was typed
        result = CliRunner.Run("forward", "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors"), "--input",
                               Fixtures.Path("parnet_official_tiny_silu.io.safetensors"), "--out", dir.File("y.txt"));
        CliRunner.AssertUserError(result, $"--out must be a .safetensors file; got '{dir.File("y.txt")}'");
    }

    /// <summary>The guard against writing over an input compared path strings: a link to the weights passed (review, session 29).</summary>
    [Fact]
    public void Forward_refuses_an_output_that_is_a_link_to_its_weights()
    {
        using var dir = new TempDirectory();
        string weights = dir.File("w.safetensors"), link = dir.File("y.safetensors");
        File.Copy(Fixtures.Path("parnet_official_tiny_silu.safetensors"), weights);
        File.CreateSymbolicLink(link, weights);
        var before = File.ReadAllBytes(weights);
        File.WriteAllText(dir.File("tiny.json"), ParNet.Tests.Models.OfficialParityTests.TinyConfig.ToJson());
        var result = CliRunner.Run("forward", "--weights", weights, "--config", dir.File("tiny.json"),
                                   "--input", Fixtures.Path("parnet_official_tiny_silu.io.safetensors"), "--output", link);
        CliRunner.AssertUserError(result, $"--output {link} is the --weights file, which writing it would replace; give another path");
        Assert.Equal(before, File.ReadAllBytes(weights));
    }

    /// <summary>`forward` and `fuse` with --ema and --out RUN/checkpoints/last/ema.safetensors overwrote the EMA weights they
    /// had read, exit 0, and the run could no longer resume (an audit of fine-tuning, session 45): a file of a training
    /// checkpoint is refused as the output of every command that writes weights.</summary>
    [Fact]
    public void A_file_of_a_training_checkpoint_is_refused_as_an_output()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        CliRunner.TrainTiny(run, "--ema-decay", "0.9", "--threads", "1");
        string last = Path.Combine(run, "checkpoints", "last");
        string model = Path.Combine(last, "model.safetensors"), ema = Path.Combine(last, "ema.safetensors"), optimizer = Path.Combine(last, "optimizer.safetensors");
        var before = File.ReadAllBytes(ema);
        string emaRefused = $"--out {ema} is a file of the training checkpoint {last} (its EMA weights), which writing it would replace: " +
                            "the run could no longer resume from it; give another path";
        CliRunner.AssertUserError(CliRunner.Run("forward", "--weights", model, "--ema", "--input", dir.File("x.safetensors"), "--out", ema), emaRefused);
        CliRunner.AssertUserError(CliRunner.Run("fuse", "--weights", model, "--ema", "--out", ema), emaRefused);
        CliRunner.AssertUserError(CliRunner.Run("convert", "--weights", model, "--out", optimizer),
            $"--out {optimizer} is a file of the training checkpoint {last} (its optimizer state), which writing it would replace");
        Assert.Equal(before, File.ReadAllBytes(ema));
        // the same weights written outside the checkpoint folder, as before
        var fused = CliRunner.Run("fuse", "--weights", model, "--ema", "--out", dir.File("fused.safetensors"));
        Assert.True(fused.Code == 0, fused.Err);
        Assert.StartsWith("fused parnet_cifar_small_w8 (EMA weights): ", fused.Out);   // it said nothing of the EMA pick (convert did)
        Assert.True(File.Exists(dir.File("fused.safetensors")));
    }
}
