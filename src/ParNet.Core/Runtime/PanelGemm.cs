using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ParNet.Runtime;

/// <summary>
/// Matrix products C = A B where B is a constant packed once ahead of time, for the 36 products of a Winograd conv
/// (<see cref="WinogradConvolution"/>): A [rows x depth] row-major, B [depth x width] packed in panels of
/// <see cref="PanelWidth"/> columns ([panel][depth][16], zeros past the last column; <see cref="WinogradConvolution.TransformWeight"/>
/// packs it), C [rows x panels x 16] row-major.
/// libtorch's bmm (MKL) packs B afresh on every call: at batch 1, where A has few rows (16 tiles of a 14x14 map) and B
/// is the large transformed weight, that copy took as long as the products (`perf`, RESULTS.md "Winograd products").
/// The kernel is the classic 6 x 16 register block of AVX2 + FMA (12 accumulators, 6 broadcasts of A and 2 loads of B
/// per step of depth); rows are padded by the caller to a multiple of <see cref="RowBlock"/>.
/// </summary>
public static unsafe class PanelGemm
{
    /// <summary>Columns of B per packed panel: two vectors of 8.</summary>
    public const int PanelWidth = 16;

    /// <summary>Rows of A per kernel call: the caller pads A's rows (and C's) to a multiple of this.</summary>
    public const int RowBlock = 6;

    /// <summary>Panels for <paramref name="width"/> columns.</summary>
    public static int Panels(long width) => (int)((width + PanelWidth - 1) / PanelWidth);

    /// <summary>c [rows x panels*16] = a [rows x depth] times the packed b; rows a multiple of
    /// <see cref="RowBlock"/>.</summary>
    public static void Multiply(float* a, float* packedB, float* c, int rows, int depth, int panels)
    {
        int ldc = panels * PanelWidth;
        for (int p = 0; p < panels; p++)
        {
            float* panel = packedB + (long)p * depth * PanelWidth;
            for (int r = 0; r < rows; r += RowBlock)
                Kernel(a + (long)r * depth, depth, panel, c + (long)r * ldc + p * PanelWidth, ldc);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel(float* a, int depth, float* b, float* c, int ldc)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
                         c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        float* a0 = a, a1 = a + depth, a2 = a1 + depth, a3 = a2 + depth, a4 = a3 + depth, a5 = a4 + depth;
        for (int d = 0; d < depth; d++, b += PanelWidth)
        {
            var b0 = Avx.LoadVector256(b);
            var b1 = Avx.LoadVector256(b + 8);
            var x = Avx.BroadcastScalarToVector256(a0 + d); c00 = Fma.MultiplyAdd(x, b0, c00); c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Avx.BroadcastScalarToVector256(a1 + d); c10 = Fma.MultiplyAdd(x, b0, c10); c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Avx.BroadcastScalarToVector256(a2 + d); c20 = Fma.MultiplyAdd(x, b0, c20); c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Avx.BroadcastScalarToVector256(a3 + d); c30 = Fma.MultiplyAdd(x, b0, c30); c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Avx.BroadcastScalarToVector256(a4 + d); c40 = Fma.MultiplyAdd(x, b0, c40); c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Avx.BroadcastScalarToVector256(a5 + d); c50 = Fma.MultiplyAdd(x, b0, c50); c51 = Fma.MultiplyAdd(x, b1, c51);
        }
        Avx.Store(c, c00); Avx.Store(c + 8, c01); c += ldc;
        Avx.Store(c, c10); Avx.Store(c + 8, c11); c += ldc;
        Avx.Store(c, c20); Avx.Store(c + 8, c21); c += ldc;
        Avx.Store(c, c30); Avx.Store(c + 8, c31); c += ldc;
        Avx.Store(c, c40); Avx.Store(c + 8, c41); c += ldc;
        Avx.Store(c, c50); Avx.Store(c + 8, c51);
    }
}
