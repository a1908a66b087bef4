using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;

namespace ParNet.Runtime;

/// <summary>
/// Matrix products C = A B where B is a constant packed once ahead of time, for the 36 products of a Winograd conv
/// (<see cref="WinogradConvolution"/>): A [rows x depth] row-major, B [depth x width] packed in panels of
/// <see cref="PanelWidth"/> columns ([panel][depth][16], zeros past the last column: <see cref="Pack"/>), C [rows x panels x 16]
/// row-major.
/// libtorch's bmm (MKL) packs B afresh on every call: at batch 1, where A has few rows (16 tiles of a 14x14 map) and B
/// is the large transformed weight, that copy took half as long as the products (`perf`, RESULTS.md "Winograd products").
/// The kernel is the classic 6 x 16 register block of AVX2 + FMA (12 accumulators, 6 broadcasts of A and 2 loads of B
/// per step of depth), and where the CPU has AVX-512F a 6 x 32 block over two panels in 512-bit vectors; rows are padded
/// by the caller to a multiple of <see cref="RowBlock"/>.
/// </summary>
public static unsafe class PanelGemm
{
    /// <summary>Columns of B per packed panel: two vectors of 8.</summary>
    public const int PanelWidth = 16;

    /// <summary>Rows of A per kernel call: the caller pads A's rows (and C's) to a multiple of this.</summary>
    public const int RowBlock = 6;

    /// <summary>Panels for <paramref name="width"/> columns.</summary>
    public static int Panels(long width) => (int)((width + PanelWidth - 1) / PanelWidth);

    /// <summary><paramref name="rows"/> rounded up to whole row blocks: the rows A and C are allocated with.</summary>
    public static int PaddedRows(int rows) => (rows + RowBlock - 1) / RowBlock * RowBlock;

    /// <summary>b [batch, depth, width] -> [batch, panels, depth, 16], zeros past column width - 1: the layout
    /// <see cref="Multiply(Tensor, Tensor, Tensor, bool)"/> reads. Done once per constant B.</summary>
    public static Tensor Pack(Tensor b)
    {
        using var scope = NewDisposeScope();
        long batch = b.size(0), depth = b.size(1), width = b.size(2);
        int panels = Panels(width);
        var padded = nn.functional.pad(b, [0, panels * PanelWidth - width]);
        return padded.view(batch, depth, panels, PanelWidth).permute(0, 2, 1, 3).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>c[i] = a[i] packedB[i] for every i of the batch, on libtorch's OpenMP threads (<see cref="OpenMpParallel"/>):
    /// a [batch, rows, depth], packedB from <see cref="Pack"/> [batch, panels, depth, 16], c [batch, rows, panels x 16], all
    /// contiguous float32 on the CPU; rows a multiple of <see cref="RowBlock"/> (<see cref="PaddedRows"/>).
    /// <paramref name="avx512"/> false keeps to the AVX2 kernel (tests compare the two).</summary>
    public static void Multiply(Tensor a, Tensor packedB, Tensor c, bool avx512 = true)
    {
        static bool Cpu32(Tensor t) => t.dtype == ScalarType.Float32 && t.device_type == TorchSharp.DeviceType.CPU && t.is_contiguous();
        if (!Cpu32(a) || !Cpu32(packedB) || !Cpu32(c) || a.dim() != 3 || packedB.dim() != 4 || c.dim() != 3)
            throw new ArgumentException("PanelGemm takes contiguous float32 CPU tensors a [batch, rows, depth], packed b [batch, panels, depth, 16], c [batch, rows, panels x 16]");
        int batch = (int)a.size(0), rows = (int)a.size(1), depth = (int)a.size(2), panels = (int)packedB.size(1);
        if (rows % RowBlock != 0)
            throw new ArgumentException($"{rows} rows: rows must be a multiple of {RowBlock} (pad them: PanelGemm.PaddedRows)");
        if (packedB.size(0) != batch || packedB.size(2) != depth || packedB.size(3) != PanelWidth || c.size(0) != batch || c.size(1) != rows
            || c.size(2) != panels * PanelWidth)
            throw new ArgumentException($"shapes do not match: a [{string.Join(", ", a.shape)}], packed b [{string.Join(", ", packedB.shape)}], c [{string.Join(", ", c.shape)}]");
        float* ap = Pointer(a), bp = Pointer(packedB), cp = Pointer(c);
        OpenMpParallel.For(batch, get_num_threads(), (first, last) =>
        {
            for (int i = first; i < last; i++)
                Multiply(ap + (long)i * rows * depth, bp + (long)i * panels * depth * PanelWidth, cp + (long)i * rows * panels * PanelWidth,
                         rows, depth, panels, avx512);
        });
        GC.KeepAlive(a); GC.KeepAlive(packedB); GC.KeepAlive(c);
    }

    /// <summary>The first float of a contiguous float32 CPU tensor, for the C# kernels here and in <see cref="WinogradConvolution"/>
    /// (callers check contiguity, type and device first, and keep the tensor alive while they use the pointer).</summary>
    internal static float* Pointer(Tensor t) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    /// <summary>One product of <see cref="Multiply(Tensor, Tensor, Tensor, bool)"/>, whose checks make every pointer valid.</summary>
    static void Multiply(float* a, float* packedB, float* c, int rows, int depth, int panels, bool avx512)
    {
        int ldc = panels * PanelWidth, p = 0;
        if (avx512 && Avx512F.IsSupported)
            for (; p + 1 < panels; p += 2)   // two panels a call: 6 x 32 outputs in 12 512-bit accumulators
            {
                float* panel = packedB + (long)p * depth * PanelWidth;
                for (int r = 0; r < rows; r += RowBlock)
                    Kernel512(a + (long)r * depth, depth, panel, panel + (long)depth * PanelWidth, c + (long)r * ldc + p * PanelWidth, ldc);
            }
        for (; p < panels; p++)
        {
            float* panel = packedB + (long)p * depth * PanelWidth;
            for (int r = 0; r < rows; r += RowBlock)
                Kernel(a + (long)r * depth, depth, panel, c + (long)r * ldc + p * PanelWidth, ldc);
        }
    }

    /// <summary>The 6 x 16 block of two adjacent panels b0, b1 in 512-bit vectors (AVX-512F): per step of depth 2 loads
    /// and 6 broadcasts for 12 fused multiply-adds of 16 lanes, twice the AVX2 kernel's work per instruction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel512(float* a, int depth, float* b0, float* b1, float* c, int ldc)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
                         c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        float* a0 = a, a1 = a + depth, a2 = a1 + depth, a3 = a2 + depth, a4 = a3 + depth, a5 = a4 + depth;
        for (int d = 0; d < depth; d++, b0 += PanelWidth, b1 += PanelWidth)
        {
            var u0 = Avx512F.LoadVector512(b0);
            var u1 = Avx512F.LoadVector512(b1);
            var x = Vector512.Create(a0[d]); c00 = Avx512F.FusedMultiplyAdd(x, u0, c00); c01 = Avx512F.FusedMultiplyAdd(x, u1, c01);
            x = Vector512.Create(a1[d]); c10 = Avx512F.FusedMultiplyAdd(x, u0, c10); c11 = Avx512F.FusedMultiplyAdd(x, u1, c11);
            x = Vector512.Create(a2[d]); c20 = Avx512F.FusedMultiplyAdd(x, u0, c20); c21 = Avx512F.FusedMultiplyAdd(x, u1, c21);
            x = Vector512.Create(a3[d]); c30 = Avx512F.FusedMultiplyAdd(x, u0, c30); c31 = Avx512F.FusedMultiplyAdd(x, u1, c31);
            x = Vector512.Create(a4[d]); c40 = Avx512F.FusedMultiplyAdd(x, u0, c40); c41 = Avx512F.FusedMultiplyAdd(x, u1, c41);
            x = Vector512.Create(a5[d]); c50 = Avx512F.FusedMultiplyAdd(x, u0, c50); c51 = Avx512F.FusedMultiplyAdd(x, u1, c51);
        }
        Avx512F.Store(c, c00); Avx512F.Store(c + PanelWidth, c01); c += ldc;
        Avx512F.Store(c, c10); Avx512F.Store(c + PanelWidth, c11); c += ldc;
        Avx512F.Store(c, c20); Avx512F.Store(c + PanelWidth, c21); c += ldc;
        Avx512F.Store(c, c30); Avx512F.Store(c + PanelWidth, c31); c += ldc;
        Avx512F.Store(c, c40); Avx512F.Store(c + PanelWidth, c41); c += ldc;
        Avx512F.Store(c, c50); Avx512F.Store(c + PanelWidth, c51);
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
