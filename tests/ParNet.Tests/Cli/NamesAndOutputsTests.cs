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
}
