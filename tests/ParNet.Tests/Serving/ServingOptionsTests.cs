using ParNet.Runtime;
using ParNet.Serving;

namespace ParNet.Tests.Serving;

/// <summary>The server's own refusals of its settings (ServingOptions.Validate), in the API's names.</summary>
public class ServingOptionsTests
{
    /// <summary>--max-body-mb 4096 was served, though a body is held in memory in one array: one over 2 GiB failed inside its
    /// MemoryStream as a 500 "inference failed", not a 413 (an audit of serve).</summary>
    [Theory]
    [InlineData(0L)]
    [InlineData(2047L * 1024 * 1024 + 1)]
    [InlineData(4096L * 1024 * 1024)]
    public void A_body_limit_outside_1_byte_to_2047_MiB_is_refused_naming_the_setting(long bytes)
    {
        var refusal = Assert.Throws<InvalidSettingException>(new ServingOptions { MaxBodyBytes = bytes }.Validate);
        Assert.Equal("ServingOptions.MaxBodyBytes", refusal.ParamName);
        Assert.StartsWith($"ServingOptions.MaxBodyBytes = {bytes}: more than 0 and at most 2146435072 (a body is held in memory", refusal.Message);
        new ServingOptions { MaxBodyBytes = ServingOptions.LargestBody }.Validate();   // the largest is taken
        Assert.True(ServingOptions.LargestBody <= Array.MaxLength, "the largest body must fit in one array");
    }
}
