using ParNet.Models.Blocks;
using ParNet.Runtime;
using static TorchSharp.torch;

namespace ParNet.Tests.Models;

/// <summary>
/// The gates' mean over H x W, against the same mean in float64: one average pool over the whole image summed 12,544
/// floats in one float32 sum (relative error 4.5e-6 at 112 x 112), which put our logits 4-10x further from a float64 run
/// than the authors' code (an outside check of session 35, RESULTS.md).
/// </summary>
public class GlobalAveragePoolTests
{
    [Theory]
    [InlineData(56, false)]
    [InlineData(112, false)]
    [InlineData(112, true)]
    public void The_mean_of_a_large_map_is_within_float32_rounding_of_the_float64_mean(int side, bool channelsLast)
    {
        using var scope = NewDisposeScope();
        manual_seed(0);
        var x = nn.functional.relu(randn(2, 64, side, side)) + 0.5;   // positive, as a gate's input after BatchNorm and SiLU mostly is
        if (channelsLast) x = MemoryFormat.ToChannelsLast(x);
        var exact = x.to(float64).mean([2, 3], keepdim: true);
        double error = ((GlobalAveragePool.Apply(x).to(float64) - exact).abs() / exact).max().item<double>();
        Assert.True(error < 1e-6, $"relative error {error:E2}");
    }
}
