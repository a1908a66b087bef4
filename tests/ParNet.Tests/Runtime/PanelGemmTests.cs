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
    public unsafe void Products_match_a_float64_matmul_with_either_kernel(int rows, int depth, int width)
    {
        using var scope = NewDisposeScope();
        manual_seed(rows + depth + width);
        var a = randn(rows, depth);
        var b = randn(depth, width);
        int panels = PanelGemm.Panels(width);
        var packed = nn.functional.pad(b, [0, panels * PanelGemm.PanelWidth - width])
            .view(depth, panels, PanelGemm.PanelWidth).permute(1, 0, 2).contiguous();
        var expected = a.to(ScalarType.Float64).matmul(b.to(ScalarType.Float64));
        var aData = a.data<float>().ToArray();
        var bData = packed.data<float>().ToArray();
        foreach (bool avx512 in new[] { false, true })
        {
            int size = rows * panels * PanelGemm.PanelWidth;
            var c = new float[size + 32];
            Array.Fill(c, float.NaN, size, 32);   // sentinels: nothing is written past C
            fixed (float* ap = aData, bp = bData, cp = c) PanelGemm.Multiply(ap, bp, cp, rows, depth, panels, avx512);
            Assert.All(c[size..], v => Assert.True(float.IsNaN(v), "a write past the end of C"));
            c = c[..size];
            var actual = tensor(c, [rows, panels * PanelGemm.PanelWidth]).to(ScalarType.Float64);
            double error = (actual.narrow(1, 0, width) - expected).norm().item<double>() / expected.norm().item<double>();
            Assert.True(error < 1e-6, $"avx512 {avx512} (CPU has it: {Avx512F.IsSupported}): relative L2 {error:E2}");
            Assert.All(c.Chunk(panels * PanelGemm.PanelWidth).SelectMany(row => row.Skip(width)), v => Assert.Equal(0f, v));   // padding columns
        }
    }

    [Fact]
    public unsafe void Rows_that_are_not_whole_row_blocks_are_refused_before_anything_is_read()
    {
        var a = new float[7 * 8];
        var b = new float[8 * PanelGemm.PanelWidth];
        var c = new float[7 * PanelGemm.PanelWidth];
        var error = Assert.Throws<ArgumentException>(() => { fixed (float* ap = a, bp = b, cp = c) PanelGemm.Multiply(ap, bp, cp, 7, 8, 1); });
        Assert.Contains("multiple of 6", error.Message);
    }
}
