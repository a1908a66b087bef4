using ParNet.Models;
using static TorchSharp.torch;
using ParNet.Runtime;
using ParNet.Tests.Models;

namespace ParNet.Tests.Runtime;

/// <summary>
/// libtorch 2.10's oneDNN gets convolutions with widths that are not multiples of 16 wrong with its AVX-512 kernels
/// (see LibTorchWorkarounds); its AVX2 kernels are exact. The reference here is the same convolution in float64.
/// These tests hold on both CPU kinds: what they assert depends on which one runs them.
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
    [InlineData(24)]
    [InlineData(92)]
    [InlineData(200)]
    public void Where_the_CPU_has_no_defect_oneDNN_convolves_misaligned_widths_exactly(int channels)
    {
        if (LibTorchWorkarounds.MisalignedChannelDefect)
        {
            Assert.True(CpuCapabilities.Current.Avx512);   // the defect is claimed for AVX-512 kernels only
            return;   // on such a CPU the exactness is not claimed: the model check turns oneDNN off instead
        }
        bool before = LibTorchWorkarounds.OneDnnEnabled;
        try
        {
            LibTorchWorkarounds.OneDnnEnabled = true;
            Assert.True(RelativeErrorAgainstFloat64(channels, 2) < 1e-5);
            Assert.True(RelativeErrorAgainstFloat64(channels, 1) < 1e-5);
        }
        finally { LibTorchWorkarounds.OneDnnEnabled = before; }
    }

    [Theory]
    [InlineData("parnet_s", false)]       // 96 / 192 / 384 / 1280
    [InlineData("parnet_m", false)]
    [InlineData("parnet_s92", true)]      // 92
    [InlineData("parnet_xl", true)]       // 200
    [InlineData("parnet_cifar_medium", true)]   // 110
    public void Models_with_a_width_oneDNN_gets_wrong_are_flagged_on_AVX512(string name, bool misaligned)
    {
        using var model = ModelRegistry.Create(name);
        Assert.Equal(misaligned && CpuCapabilities.Current.Avx512, model.NeedsOneDnnOff);
    }

    [Fact]
    public void A_misaligned_model_computes_the_logits_of_libtorchs_own_convolution()
    {
        // On AVX-512 running the model turns oneDNN off; elsewhere oneDNN stays on and must agree with libtorch's conv.
        bool before = LibTorchWorkarounds.OneDnnEnabled;
        try
        {
            LibTorchWorkarounds.OneDnnEnabled = true;
            using var model = ModelFactory.Create(OfficialParityTests.TinyConfig with { Planes = [24, 48, 72] });
            model.eval();
            using var scope = NewDisposeScope();
            manual_seed(5);
            var x = randn(2, 3, 32, 32);
            var logits = model.call(x);
            Assert.Equal(!CpuCapabilities.Current.Avx512, LibTorchWorkarounds.OneDnnEnabled);
            LibTorchWorkarounds.OneDnnEnabled = false;
            var reference = model.call(x);
            double error = (logits - reference).norm().item<float>() / reference.norm().item<float>();
            Assert.True(error < 1e-5, $"relative L2 {error:E2}");
        }
        finally { LibTorchWorkarounds.OneDnnEnabled = before; }
    }
}
