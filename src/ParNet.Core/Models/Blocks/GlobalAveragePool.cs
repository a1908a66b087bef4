using static TorchSharp.torch;

namespace ParNet.Models.Blocks;

/// <summary>
/// The mean over each channel's H x W pixels, [N, C, H, W] -> [N, C, 1, 1], as an average pool whose window is the
/// whole image. Not `x.mean([2, 3])` or adaptive_avg_pool2d: libtorch 2.10 gives their gradient NCHW strides whatever
/// the input's, and one NCHW gradient in a channels_last network spreads through the element-wise backward ops to
/// the BatchNorms, whose backward then runs a serial loop (input and gradient in different formats). avg_pool2d's
/// backward keeps channels_last (RESULTS.md, training throughput).
/// </summary>
public static class GlobalAveragePool
{
    public static Tensor Apply(Tensor x) => nn.functional.avg_pool2d(x, [x.shape[2], x.shape[3]]);

    /// <summary>The pooled features as [N, C], read through the NHWC view: `Apply(x).flatten(1)` would hand the pool an
    /// NCHW gradient, and avg_pool2d's NCHW backward copies the whole [N, C, H, W] gradient twice. Same values.</summary>
    public static Tensor Flat(Tensor x) => Apply(x).permute(0, 2, 3, 1).flatten(1);
}
