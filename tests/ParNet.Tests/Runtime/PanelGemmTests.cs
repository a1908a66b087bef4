using System.Runtime.Intrinsics.X86;
using ParNet.Runtime;
using static TorchSharp.torch;

namespace ParNet.Tests.Runtime;

/// <summary>The Winograd products' kernels against a float64 matmul: the AVX2 one everywhere, the AVX-512 one (two panels a
/// call, the odd last panel on the AVX2 kernel) where the CPU has it (Zen 4 and 5; on Zen 3 both calls take AVX2).</summary>
public class PanelGemmTests
{
    [Theory]
    [InlineData(6, 8, 16)]      // one panel: AVX2 kernel only
    [InlineData(12, 40, 48)]    // three panels: a pair and an odd one
    [InlineData(18, 96, 64)]    // two pairs
    [InlineData(6, 24, 40)]     // a width that pads its last panel with zeros
    public void Products_match_a_float64_matmul_with_either_kernel(int rows, int depth, int width)
    {
        using var scope = NewDisposeScope();
        manual_seed(rows + depth + width);
        var a = randn(2, rows, depth);   // a batch of two products
        var b = randn(2, depth, width);
        var packed = PanelGemm.Pack(b);
        int panels = PanelGemm.Panels(width);
        var expected = a.to(ScalarType.Float64).bmm(b.to(ScalarType.Float64));
        foreach (bool avx512 in new[] { false, true })
        {
            var buffer = full(3, rows, panels * PanelGemm.PanelWidth, float.NaN);   // the third product's place: sentinels
            PanelGemm.Multiply(a, packed, buffer.narrow(0, 0, 2), avx512);
            Assert.True(buffer[2].isnan().all().item<bool>(), "a write past the end of C");
            var actual = buffer.narrow(0, 0, 2).to(ScalarType.Float64);
            double error = (actual.narrow(2, 0, width) - expected).norm().item<double>() / expected.norm().item<double>();
            Assert.True(error < 1e-6, $"avx512 {avx512} (CPU has it: {Avx512F.IsSupported}): relative L2 {error:E2}");
            Assert.Equal(0.0, actual.narrow(2, width, panels * PanelGemm.PanelWidth - width).abs().sum().item<double>());   // padding columns
        }
    }

    [Fact]
    public void Rows_that_are_not_whole_row_blocks_are_refused_before_anything_is_read()
    {
        using var scope = NewDisposeScope();
        var error = Assert.Throws<ArgumentException>(() =>
            PanelGemm.Multiply(zeros(1, 7, 8), PanelGemm.Pack(zeros(1, 8, 16)), zeros(1, 7, PanelGemm.PanelWidth)));
        Assert.Contains("multiple of 6", error.Message);
    }
}
