using static TorchSharp.torch;

namespace ParNet.Runtime;

/// <summary>
/// channels_last (NHWC strides) for TorchSharp, which has no memory_format argument: permute, copy,
/// permute back leaves an [N, C, H, W] view with NHWC strides, which libtorch recognizes. oneDNN then
/// runs convolutions on NHWC directly instead of reordering to and from its blocked layout around
/// every conv; on small networks those reorders cost as much as the convolutions.
/// </summary>
public static class MemoryFormat
{
    /// <summary>A 4-d tensor laid out NHWC and not also NCHW (a tensor with C = 1 or H = W = 1 is both; it counts as NCHW).</summary>
    public static bool IsChannelsLast(Tensor x)
    {
        // on the forward pass (shuffles, interleaves, pointwise convs): sizes and strides read once
        if (x.dim() != 4) return false;
        long[] size = x.shape, stride = x.stride();
        return stride[1] == 1 && stride[3] == size[1] && stride[2] == size[1] * size[3] && !x.is_contiguous();
    }

    public static Tensor ToChannelsLast(Tensor x) => x.dim() != 4 ? x : x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);

    /// <summary>Every 4-d parameter of the module re-laid out as channels_last, in place.</summary>
    public static void ToChannelsLast(nn.Module module)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();   // holds the re-laid-out copies until set_ has taken them (RESULTS.md, defect 6)
        foreach (var p in module.parameters())
            if (p.dim() == 4) p.set_(ToChannelsLast(p));
    }
}
