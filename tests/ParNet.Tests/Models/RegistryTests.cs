using ParNet.Analysis;
using ParNet.Models;

namespace ParNet.Tests.Models;

public class RegistryTests
{
    /// <summary>Training-form counts measured by running the released code (spec, "Parameter counts").</summary>
    [Theory]
    [InlineData("parnet_s92", 20_930_936)]
    [InlineData("parnet_s", 20_983_848)]
    [InlineData("parnet_m", 38_953_256)]
    [InlineData("parnet_l", 60_180_008)]
    [InlineData("parnet_xl", 93_176_168)]
    public void Training_form_parameter_counts_equal_the_released_code(string name, long expected)
    {
        using var model = ModelRegistry.Create(name);
        Assert.Equal(expected, ModelSummary.CountTrainableParameters(model));
    }

    [Theory]
    [InlineData("parnet_s", 9.67)]
    [InlineData("parnet_m", 17.16)]
    [InlineData("parnet_l", 26.65)]
    [InlineData("parnet_xl", 41.43)]
    public void Print(string name, double gflops)
    {
        using var model = ModelRegistry.Create(name);
        var s = ModelSummary.Of(model, 224);
        Assert.Fail($"{name} {s.GFlops} vs {gflops} depth {s.Depth}");
    }

    [Theory]
    [InlineData("parnet_cifar_small")]
    [InlineData("parnet_cifar_medium")]
    [InlineData("parnet_cifar_large")]
    [InlineData("resnet12_wide")]
    public void Print2(string name)
    {
        using var model = ModelRegistry.Create(name);
        var s = ModelSummary.Of(model, model.Config.DefaultImageSize);
        Assert.Fail($"{name} {s.TrainableParameters} depth {s.Depth} {s.GFlops}");
    }
}
