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
    }
}
