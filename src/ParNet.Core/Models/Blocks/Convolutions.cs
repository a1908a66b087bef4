using System.Runtime.CompilerServices;
using ParNet.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ParNet.Models.Blocks;

/// <summary>
/// Every conv of our blocks runs through <see cref="Apply(Conv2d, Tensor)"/>: where libtorch's oneDNN computes a conv wrongly
/// (<see cref="LibTorchWorkarounds"/>: its AVX-512 kernels) the conv is computed a way that is exact and keeps oneDNN's
/// speed, instead of turning oneDNN off for the process:
/// - on AVX-512 every 1x1 conv (no padding) is the matrix product it is: the input's pixels (every stride-th) times the
///   weight (per group), a GEMM, handed back in the input's memory format;
/// - any other conv whose channels per group are not a multiple of 16 gets its input in channels_last, where oneDNN's
///   NHWC kernels are exact for every width.
/// Measured (2026-12-02, AVX-512, against float64 and oneDNN off): the blocked NCHW path is 6-30% off at batch >= 2 for
/// widths that are not multiples of 16, the NHWC 3x3 kernels exact forward and backward for every width tried (16-800),
/// the NHWC 1x1 kernels wrong for such widths AND for some aligned ones (400 channels at every shape tried; 320, 512, 640
/// and 800 at batch 8, 4x4: 11-17% off), which is why every 1x1 takes the GEMM. Other convs of widths that are multiples
/// of 16, and every conv on a CPU without AVX-512, take conv.call unchanged.
/// A conv held by a live <see cref="WinogradPlan"/> runs as Winograd F(4x4, 3x3) at inference on channels_last maps instead.
/// </summary>
public static class Convolutions
{
    public static Tensor Apply(Conv2d conv, Tensor x) =>
        WinogradPlan.TryConvolve(conv, x, null, out var y) ? y : RouteOf(conv) switch
    {
        Route.Gemm => Pointwise(conv, x),
        Route.ChannelsLast => conv.call(MemoryFormat.ToChannelsLast(x)),
        _ => conv.call(x),   // aligned, no AVX-512, or no exact path (then the model turned oneDNN off)
    };

    /// <summary>As <see cref="Apply(Conv2d, Tensor)"/> with <paramref name="bias"/> ([Cout]) in place of the conv's own: a fused
    /// block adds a per-channel term of a one-image batch to its conv's output this way, in the conv, not in a pass of its own.</summary>
    public static Tensor Apply(Conv2d conv, Tensor x, Tensor bias) =>
        WinogradPlan.TryConvolve(conv, x, bias, out var y) ? y : RouteOf(conv) switch
    {
        Route.Gemm => Pointwise(conv, x, bias),
        Route.ChannelsLast => WithBias(conv, MemoryFormat.ToChannelsLast(x), bias),
        _ => WithBias(conv, x, bias),
    };

    static Tensor WithBias(Conv2d conv, Tensor x, Tensor bias) =>
        nn.functional.conv2d(x, conv.weight!, bias, conv.stride, conv.padding ?? throw new NotSupportedException("string padding modes"), conv.dilation, conv.groups);

    enum Route { Native, Gemm, ChannelsLast }

    /// <summary>Each conv's route, decided once: it depends only on the conv's shape and the CPU, and the forward pass
    /// (every conv of every training step) should not re-derive it.</summary>
    static readonly ConditionalWeakTable<Conv2d, StrongBox<Route>> Routes = new();

    static Route RouteOf(Conv2d conv) => Routes.GetValue(conv, c => new(
        LibTorchWorkarounds.MisalignedChannelDefect && IsPointwise(c) ? Route.Gemm
        : NeedsExactPath(c) && HasExactPath(c) ? Route.ChannelsLast
        : Route.Native)).Value;

    /// <summary>Whether oneDNN's AVX-512 kernels would get this conv wrong (also the check of <see cref="OneDnnConvolutionCheck"/>).
    /// A conv that reads the image (1-4 channels) counts by its output only: oneDNN takes another path for such inputs,
    /// exact in the parity tests (the authors' fixtures), and the stems of ParNet-S/M/L keep their speed.</summary>
    public static bool NeedsExactPath(Conv2d conv) =>
        LibTorchWorkarounds.MisalignedChannelDefect &&
        (!IsAligned(conv.out_channels / conv.groups) || conv.in_channels > MaxImageChannels && !IsAligned(conv.in_channels / conv.groups));

    /// <summary>The most channels an image has (RGBA).</summary>
    const int MaxImageChannels = 4;

    /// <summary>Whether <see cref="Apply(Conv2d, Tensor)"/> computes this conv exactly despite the defect: a 1x1 conv of any stride (the GEMM), or a 3x3 conv
    /// (oneDNN's NHWC kernels: measured exact for strides 1 and 2, groups 1 and 2, forward and backward).</summary>
    public static bool HasExactPath(Conv2d conv) => IsPointwise(conv) || conv.kernel_size.All(k => k == 3) && conv.dilation.All(d => d == 1);

    static bool IsAligned(long channels) => channels % LibTorchWorkarounds.SafeChannelMultiple == 0;

    /// <summary>1x1, no padding, no dilation, any stride: a matrix product over the channels of every stride-th pixel (the
    /// stride-2 1x1 branch of a downsampling block is one: ParNet-XL's inits.1 reads 200 channels).</summary>
    public static bool IsPointwise(Conv2d conv) =>
        conv.kernel_size.All(k => k == 1) && conv.dilation.All(d => d == 1) && (conv.padding?.All(p => p == 0) ?? true);

    /// <summary>y[n, o, h, w] = sum_i W[o, i] x[n, i, s h, s w] (+ b[o]), group by group: exact (a GEMM). The output keeps the
    /// input's memory format, as libtorch's conv does (<see cref="MemoryFormat.IsChannelsLast"/>: a one-channel input by its
    /// channel stride): a channels_last input goes through its NHWC view, any other through [N, Cin, H x W]. Mixing formats inside a block
    /// would send BatchNorm's backward down its serial path (<see cref="GlobalAveragePool"/>). An input of one pixel (a
    /// gate's pooled [N, C, 1, 1]) is both formats and goes through the NHWC view too: its gradient then comes back with
    /// channels_last strides, and the average pool's backward stays on its channels_last kernel (the NCHW one copies the
    /// whole [N, C, H, W] gradient twice).</summary>
    public static Tensor Pointwise(Conv2d conv, Tensor x) => Pointwise(conv, x, conv.bias);

    static Tensor Pointwise(Conv2d conv, Tensor x, Tensor? bias)
    {
        long sh = conv.stride[0], sw = conv.stride[1];
        bool channelsLast = MemoryFormat.IsChannelsLast(x) || x.size(2) == 1 && x.size(3) == 1;   // size(d): no array per call
        if (sh != 1 || sw != 1) x = x.slice(2, 0, x.shape[2], sh).slice(3, 0, x.shape[3], sw);   // the pixels a 1x1 kernel visits
        long n = x.shape[0], h = x.shape[2], w = x.shape[3], groups = conv.groups;
        long cin = conv.in_channels / groups, cout = conv.out_channels / groups;
        var weight = conv.weight!.reshape(groups, cout, cin);
        if (!channelsLast)
        {
            var y = matmul(weight, x.reshape(n, groups, cin, h * w));               // [N, G, Cout, HW]
            if (bias is { } b) y = y.add(b.view(groups, cout, 1), PersistentScalars.One);
            return y.view(n, groups * cout, h, w);
        }
        var pixels = x.permute(0, 2, 3, 1);                                    // [N, H, W, Cin], a view (contiguous for channels_last at stride 1)
        Tensor z = groups == 1
            ? nn.functional.linear(pixels, weight[0])
            : einsum("nhwgi,goi->nhwgo", pixels.reshape(n, h, w, groups, cin), weight).reshape(n, h, w, groups * cout);
        if (bias is not null) z = z.add(bias, PersistentScalars.One);   // no temporary Scalar (RESULTS.md, defect 4)
        return z.permute(0, 3, 1, 2);                                          // [N, Cout, H, W], channels_last in memory
    }
}
