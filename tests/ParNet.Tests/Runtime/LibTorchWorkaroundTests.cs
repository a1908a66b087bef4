using ParNet.Models;
using static TorchSharp.torch;
using ParNet.Runtime;
using ParNet.Tests.Models;

namespace ParNet.Tests.Runtime;

/// <summary>
/// libtorch 2.10's oneDNN gets convolutions with widths that are not multiples of 16 wrong (see
/// LibTorchWorkarounds). The reference here is the same convolution in float64.
/// </summary>
public class LibTorchWorkaroundTests
{
    static double RelativeErrorAgainstFloat64(int channels, int batch)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var x = randn(batch, channels, 8, 8);
        var w = randn(channels, channels, 3, 3);
        var y = nn.functional.conv2d(x, w, padding: [1, 1]);
        var reference = nn.functional.conv2d(x.to(float64), w.to(float64), padding: [1, 1]).to(float32);
        return (y - reference).norm().item<float>() / reference.norm().item<float>();
    }

    [Theory]
    [InlineData(24)]
    [InlineData(92)]
    [InlineData(200)]
    public void With_oneDNN_off_misaligned_widths_convolve_exactly(int channels)
    {
        bool before = LibTorchWorkarounds.OneDnnEnabled;
        try
        {
            LibTorchWorkarounds.OneDnnEnabled = false;
            Assert.False(LibTorchWorkarounds.OneDnnEnabled);
            Assert.True(RelativeErrorAgainstFloat64(channels, 2) < 1e-5);
        }
        finally { LibTorchWorkarounds.OneDnnEnabled = before; }
    }

    [Theory]
    [InlineData("parnet_s", false)]       // 96 / 192 / 384 / 1280
    [InlineData("parnet_m", false)]
    [InlineData("parnet_s92", true)]      // 92
    [InlineData("parnet_xl", true)]       // 200
    [InlineData("parnet_cifar_medium", true)]   // 110
    public void Models_with_a_width_oneDNN_gets_wrong_are_flagged(string name, bool needsOff)
    {
        using var model = ModelRegistry.Create(name);
        Assert.Equal(needsOff, model.NeedsOneDnnOff);
    }

    [Fact]
    public void Running_a_flagged_model_turns_oneDNN_off()
    {
        bool before = LibTorchWorkarounds.OneDnnEnabled;
        try
        {
            LibTorchWorkarounds.OneDnnEnabled = true;
            using var model = ModelFactory.Create(OfficialParityTests.TinyConfig with { Planes = [24, 48, 72] });
            model.eval();
            using var scope = NewDisposeScope();
            model.call(randn(1, 3, 32, 32));
            Assert.False(LibTorchWorkarounds.OneDnnEnabled);
        }
        finally { LibTorchWorkarounds.OneDnnEnabled = before; }
    }
}
