using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ParNet.Runtime;

/// <summary>
/// A 3x3, stride-1, padding-1 convolution as Winograd F(4x4, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional
/// Neural Networks", 2016): each 4x4 block of outputs from a 6x6 block of inputs with 36 multiplies per input and output
/// channel pair where the direct conv takes 144. Neither ONNX Runtime's CPU kernels nor oneDNN's current ones have a
/// Winograd conv (oneDNN's was AVX-512 only and is gone), and libtorch's NNPACK refuses these CPUs (below), so this is how
/// float32 inference takes fewer multiply-adds than the network has: ParNet-S 0.6x the authors' fused time on Zen 4 and
/// with kernels held to AVX2 (RESULTS.md, "Winograd").
///
/// The three steps, on channels_last maps ([N, H, W, C] in memory), per group, each a loop on libtorch's own OpenMP
/// threads (<see cref="OpenMpParallel"/>):
///  1. input transform V = B^T d B of every 6x6 tile d (tiles 4 apart, zero outside the map): C# SIMD, 8 channels a vector;
///  2. 36 matrix products M[xi] = V[xi] U[xi], [tiles x C] x [C x K]: <see cref="PanelGemm"/>, U packed once;
///  3. output transform Y = A^T M A + bias, the 4x4 outputs of each tile (cut at the map's edge): C# SIMD.
/// U = G g G^T, the transformed weight, is computed and packed once per weight (<see cref="TransformWeight"/>, held by a
/// <see cref="WinogradPlan"/>). Float32 rounding differs from the direct
/// conv's: relative L2 3e-6 on random data (tests/ParNet.Tests/Runtime/WinogradConvolutionTests.cs).
/// Inference only: no autograd (the transforms write through raw pointers).
/// </summary>
public static unsafe class WinogradConvolution
{
    /// <summary>AVX2 and FMA, which the transforms are written in (every x86-64 CPU of the last ten years).</summary>
    public static bool IsSupported => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>Why a CPU without <see cref="IsSupported"/> cannot run these convs: one sentence for every refusal.</summary>
    public const string UnsupportedReason = "Winograd convolutions need AVX2 and FMA, which this CPU lacks";

    /// <summary>Channels per vector: channel counts per group must be a multiple of this.</summary>
    public const int Lanes = 8;

    /// <summary>Whether the conv is one this computes: 3x3, stride 1, zero padding 1, no dilation, channels per group a
    /// multiple of <see cref="Lanes"/> (ParNet-S/M/L/XL of Table A1 and the main job's width 16; not the released S92, nor
    /// the CIFAR widths 110 and 165).</summary>
    public static bool Applies(Conv2d conv) =>
        conv.kernel_size.All(k => k == 3) && conv.stride.All(s => s == 1) && conv.dilation.All(d => d == 1)
        && conv.padding is { } p && p.All(q => q == 1) && conv.padding_mode == TorchSharp.PaddingModes.Zeros
        && conv.in_channels / conv.groups % Lanes == 0 && conv.out_channels / conv.groups % Lanes == 0;

    // G (6 x 3), B^T (6 x 6) and A^T (4 x 6) of F(4x4, 3x3); B^T and A^T are written out in the transforms below.
    static readonly float[] G = [1 / 4f, 0, 0, -1 / 6f, -1 / 6f, -1 / 6f, -1 / 6f, 1 / 6f, -1 / 6f, 1 / 24f, 1 / 12f, 1 / 6f, 1 / 24f, -1 / 12f, 1 / 6f, 0, 0, 1];

    /// <summary>A conv's transformed weight: U[xi, g] = (G w_g G^T)[xi] as a C/groups x K/groups matrix, packed for
    /// <see cref="PanelGemm"/> as [36 x groups, panels, C/groups, 16] (zeros past K/groups), with the conv's shape.</summary>
    public sealed record Weight(Tensor Packed, long OutChannels, long Groups) : IDisposable
    {
        public void Dispose() => Packed.Dispose();
    }

    /// <summary>weight [K, C/groups, 3, 3] float32 -> its <see cref="Weight"/>. Not tracked by a dispose scope: its owner
    /// (<see cref="WinogradPlan"/>) disposes it.</summary>
    public static Weight TransformWeight(Tensor weight, long groups)
    {
        using var scope = NewDisposeScope();
        long k = weight.size(0), c = weight.size(1), kg = k / groups;
        var g = tensor(G, [6, 3], weight.dtype);
        var u = einsum("au,gkcuv,bv->abgck", g, weight.detach().view(groups, kg, c, 3, 3), g).reshape(36 * groups, c, kg);
        return new Weight(PanelGemm.Pack(u).DetachFromDisposeScope(), k, groups);
    }

    /// <summary>x [N, C, H, W] float32 with channels_last strides, u from <see cref="TransformWeight"/>, bias [K] float32 ->
    /// y [N, K, H, W] with channels_last strides. The intra-op thread count (torch.get_num_threads) is used for the
    /// transforms as for the products. Large batches go through in chunks of images whose transformed input and output
    /// each hold at most <paramref name="maxScratchElements"/> floats (at least one image a chunk).</summary>
    public static Tensor Convolve(Tensor x, Weight u, Tensor bias, long maxScratchElements = MaxScratchElements)
    {
        if (!IsSupported) throw new PlatformNotSupportedException(UnsupportedReason);
        CheckArguments(x, u, bias);
        using var scope = NewDisposeScope();
        int n = (int)x.size(0), c = (int)x.size(1), h = (int)x.size(2), w = (int)x.size(3), groups = (int)u.Groups;
        int k = (int)u.OutChannels, cg = c / groups, kg = k / groups, panels = (int)u.Packed.size(1);
        var y = empty([n, h, w, k], ScalarType.Float32);
        if (n * h * w == 0 || k == 0) return y.permute(0, 3, 1, 2).MoveToOuterDisposeScope();
        var nhwc = x.permute(0, 2, 3, 1).contiguous();   // a view when x is channels_last
        var b = bias.contiguous();
        long perImage = 36L * ((h + 3) / 4) * ((w + 3) / 4) * Math.Max(c, groups * panels * PanelGemm.PanelWidth);
        int chunk = (int)Math.Clamp(maxScratchElements / perImage, 1, n), threads = get_num_threads();
        for (int first = 0; first < n; first += chunk)
        {
            int images = Math.Min(chunk, n - first);
            using var chunkScope = NewDisposeScope();
            var shape = new Tiles(images, h, w);
            var xs = nhwc.narrow(0, first, images);
            var v = empty([36 * groups, shape.PaddedCount, cg], ScalarType.Float32);
            v.narrow(1, shape.Count, shape.PaddedCount - shape.Count).zero_();   // the rows past the last tile, multiplied unread
            float* xp = PanelGemm.Pointer(xs), vp = PanelGemm.Pointer(v);
            OpenMpParallel.For(shape.Rows, threads, (firstRow, lastRow) => InputTransform(xp, vp, shape, c, cg, firstRow, lastRow));
            GC.KeepAlive(xs); GC.KeepAlive(v);
            var m = empty([36 * groups, shape.PaddedCount, panels * PanelGemm.PanelWidth], ScalarType.Float32);
            PanelGemm.Multiply(v, u.Packed, m);
            var ys = y.narrow(0, first, images);
            float* mp = PanelGemm.Pointer(m), yp = PanelGemm.Pointer(ys), bp = PanelGemm.Pointer(b);
            OpenMpParallel.For(shape.Rows, threads, (firstRow, lastRow) => OutputTransform(mp, yp, bp, shape, k, kg, panels * PanelGemm.PanelWidth, firstRow, lastRow));
            GC.KeepAlive(m); GC.KeepAlive(ys); GC.KeepAlive(b);
        }
        return y.permute(0, 3, 1, 2).MoveToOuterDisposeScope();
    }

    /// <summary>Floats in the transformed input or output of one chunk of images by default (256 MB): bounds the scratch
    /// memory of a large batch, and keeps every buffer inside what a Span (the way to a tensor's memory here) can address.</summary>
    public const long MaxScratchElements = 1L << 26;

    /// <summary>Shapes and types the transforms rely on: they read and write through raw pointers, so a mismatch would be
    /// memory corruption, not an exception.</summary>
    static void CheckArguments(Tensor x, Weight u, Tensor bias)
    {
        static bool Cpu32(Tensor t) => t.dtype == ScalarType.Float32 && t.device_type == TorchSharp.DeviceType.CPU;
        if (!Cpu32(x) || x.dim() != 4)
            throw new ArgumentException($"a Winograd conv takes a float32 CPU map [N, C, H, W]; got {x.dtype} on {x.device_type}, {x.dim()} dims");
        long groups = u.Groups, k = u.OutChannels, kg = k / Math.Max(groups, 1), cg = u.Packed.size(2);
        if (groups < 1 || k % groups != 0 || kg % Lanes != 0 || !Cpu32(u.Packed) || u.Packed.dim() != 4 || u.Packed.size(0) != 36 * groups
            || u.Packed.size(1) != PanelGemm.Panels(kg) || u.Packed.size(3) != PanelGemm.PanelWidth || !u.Packed.is_contiguous())
            throw new ArgumentException("the Winograd weight must be TransformWeight's output: contiguous float32 [36 x groups, panels, C/groups, 16]");
        long c = x.size(1);
        if (c != cg * groups || cg % Lanes != 0)
            throw new ArgumentException($"{c} input channels for a weight of {groups} x {cg}; channels per group must match and be multiples of {Lanes}");
        if (!Cpu32(bias) || bias.numel() != k) throw new ArgumentException($"the bias must be float32 [{k}] on the CPU; got {bias.dtype} [{bias.numel()}]");
    }

    /// <summary>The 4x4-output tiles over N maps of H x W: rows of tiles, tiles per row, all of them, and that count padded
    /// to the products' row block (the rows of each V and M matrix).</summary>
    readonly record struct Tiles(int N, int H, int W)
    {
        public int PerColumn => (H + 3) / 4;
        public int PerRow => (W + 3) / 4;
        public int Rows => N * PerColumn;
        public int Count => Rows * PerRow;
        public int PaddedCount => PanelGemm.PaddedRows(Count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Fmadd(Vector256<float> a, float s, Vector256<float> b) => Fma.MultiplyAdd(a, Vector256.Create(s), b);

    /// <summary>V[xi, g, t, c'] = (B^T d B)[xi] for the 6x6 input tile d of tile t, channel g C/groups + c'. Planes xi
    /// lie padded tiles x C apart.</summary>
    static void InputTransform(float* x, float* v, Tiles shape, int c, int cg, int firstRow, int lastRow)
    {
        var d = stackalloc Vector256<float>[36];
        var bd = stackalloc Vector256<float>[36];   // B^T d
        var e = stackalloc Vector256<float>[6];
        long plane = (long)shape.PaddedCount * c;
        for (int row = firstRow; row < lastRow; row++)
        {
            int image = row / shape.PerColumn, top = 4 * (row % shape.PerColumn) - 1;
            float* map = x + (long)image * shape.H * shape.W * c;
            for (int column = 0; column < shape.PerRow; column++)
            {
                int t = row * shape.PerRow + column, left = 4 * column - 1;
                for (int ch = 0; ch < c; ch += Lanes)
                {
                    for (int a = 0; a < 6; a++)
                        for (int b = 0; b < 6; b++)
                        {
                            int i = top + a, j = left + b;
                            d[a * 6 + b] = (uint)i < (uint)shape.H && (uint)j < (uint)shape.W ? Avx.LoadVector256(map + ((long)i * shape.W + j) * c + ch) : Vector256<float>.Zero;
                        }
                    for (int b = 0; b < 6; b++)
                        RowsOfBt(d[b], d[6 + b], d[12 + b], d[18 + b], d[24 + b], d[30 + b], bd + b, 6);
                    float* o = v + ((long)(ch / cg) * shape.PaddedCount + t) * cg + ch % cg;
                    for (int a = 0; a < 6; a++)
                    {
                        var r = bd + a * 6;
                        RowsOfBt(r[0], r[1], r[2], r[3], r[4], r[5], e, 1);
                        for (int b = 0; b < 6; b++) Avx.Store(o + (a * 6 + b) * plane, e[b]);
                    }
                }
            }
        }
    }

    /// <summary>out[i * stride] = (B^T z)[i], i = 0..5, for the column z = (z0..z5).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void RowsOfBt(Vector256<float> z0, Vector256<float> z1, Vector256<float> z2, Vector256<float> z3, Vector256<float> z4,
        Vector256<float> z5, Vector256<float>* o, int stride)
    {
        o[0] = Fmadd(z0, 4, Fmadd(z2, -5, z4));
        o[stride] = Fmadd(z1, -4, Fmadd(z2, -4, z3 + z4));
        o[2 * stride] = Fmadd(z1, 4, Fmadd(z2, -4, z4 - z3));
        o[3 * stride] = Fmadd(z1, -2, Fmadd(z3, 2, z4 - z2));
        o[4 * stride] = Fmadd(z1, 2, Fmadd(z3, -2, z4 - z2));
        o[5 * stride] = Fmadd(z1, 4, Fmadd(z3, -5, z5));
    }

    /// <summary>The outputs of tile t, channel g K/groups + k': (A^T M A)[i, j] + bias, for the rows and columns inside the
    /// map. M's rows are <paramref name="mWidth"/> floats (K/groups padded to whole panels).</summary>
    static void OutputTransform(float* m, float* y, float* bias, Tiles shape, int k, int kg, int mWidth, int firstRow, int lastRow)
    {
        var am = stackalloc Vector256<float>[24];   // A^T m, 4 x 6
        var e = stackalloc Vector256<float>[4];
        long plane = (long)shape.PaddedCount * mWidth * (k / kg);
        for (int row = firstRow; row < lastRow; row++)
        {
            int image = row / shape.PerColumn, top = 4 * (row % shape.PerColumn);
            float* map = y + (long)image * shape.H * shape.W * k;
            int rows = Math.Min(4, shape.H - top);
            for (int column = 0; column < shape.PerRow; column++)
            {
                int t = row * shape.PerRow + column, left = 4 * column, columns = Math.Min(4, shape.W - left);
                for (int ch = 0; ch < k; ch += Lanes)
                {
                    float* p = m + ((long)(ch / kg) * shape.PaddedCount + t) * mWidth + ch % kg;
                    for (int b = 0; b < 6; b++)
                        RowsOfAt(Avx.LoadVector256(p + b * plane), Avx.LoadVector256(p + (6 + b) * plane), Avx.LoadVector256(p + (12 + b) * plane),
                            Avx.LoadVector256(p + (18 + b) * plane), Avx.LoadVector256(p + (24 + b) * plane), Avx.LoadVector256(p + (30 + b) * plane), am + b, 6);
                    var bv = Avx.LoadVector256(bias + ch);
                    for (int a = 0; a < rows; a++)
                    {
                        var r = am + a * 6;
                        RowsOfAt(r[0], r[1], r[2], r[3], r[4], r[5], e, 1);
                        float* o = map + ((long)(top + a) * shape.W + left) * k + ch;
                        for (int j = 0; j < columns; j++) Avx.Store(o + j * k, e[j] + bv);
                    }
                }
            }
        }
    }

    /// <summary>out[i * stride] = (A^T z)[i], i = 0..3, for the column z = (z0..z5).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void RowsOfAt(Vector256<float> z0, Vector256<float> z1, Vector256<float> z2, Vector256<float> z3, Vector256<float> z4,
        Vector256<float> z5, Vector256<float>* o, int stride)
    {
        Vector256<float> s12 = z1 + z2, d12 = z1 - z2, s34 = z3 + z4, d34 = z3 - z4;
        o[0] = z0 + s12 + s34;
        o[stride] = Fmadd(d34, 2, d12);
        o[2 * stride] = Fmadd(s34, 4, s12);
        o[3 * stride] = Fmadd(d34, 8, d12) + z5;
    }
}
