using static TorchSharp.torch;

namespace ParNet.Models.Blocks;

/// <summary>
/// The mean over each channel's H x W pixels, [N, C, H, W] -> [N, C, 1, 1]. On a float32 channels_last map, as two
/// average pools: over the columns (an H x 1 window), then over the row left (1 x W). Not `x.mean([2, 3])` or
/// adaptive_avg_pool2d there: libtorch 2.10 gives their gradient NCHW strides whatever the input's, and one NCHW gradient
/// in a channels_last network spreads through the element-wise backward ops to the BatchNorms, whose backward then runs a
/// serial loop (input and gradient in different formats); avg_pool2d's backward keeps channels_last (RESULTS.md, training
/// throughput). On an NCHW map, `mean`: its gradient is NCHW as the map is. Not one float32 pool whose window is the whole
/// image, as until session 35: it sums H x W floats in one running float32 sum, whose error grows with the map (relative
/// 1.6e-6 at 56 x 56, 4.5e-6 at 112 x 112, against 3.4e-7 and 4.8e-7 in two steps and 1.5e-7 for `mean`), and it put
/// our logits up to 8.8x further from a float64 run than the authors' code (RESULTS.md, "Parity across every variant").
/// A bfloat16 map (--bf16) keeps the one pool: it sums in a float32 accumulator and rounds once, where two pools would
/// round to bfloat16 twice.
/// </summary>
public static class GlobalAveragePool
{
    public static Tensor Apply(Tensor x) => !ParNet.Runtime.MemoryFormat.IsChannelsLast(x) ? x.mean([2, 3], keepdim: true)
        : x.dtype == ScalarType.Float32 ? nn.functional.avg_pool2d(nn.functional.avg_pool2d(x, [x.shape[2], 1]), [1, x.shape[3]])
        : nn.functional.avg_pool2d(x, [x.shape[2], x.shape[3]]);

    /// <summary>The pooled features as [N, C], read through the NHWC view: `Apply(x).flatten(1)` would hand the pool an
    /// NCHW gradient, and avg_pool2d's NCHW backward copies the whole [N, C, H, W] gradient twice. Same values.</summary>
    public static Tensor Flat(Tensor x) => Apply(x).permute(0, 2, 3, 1).flatten(1);
}
