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
    /// <summary>
    /// A 4-d tensor laid out NHWC and not also NCHW. A tensor with H = W = 1 is both and counts as NCHW; one with C = 1
    /// (an image) is both by contiguity and counts as channels_last when its channel stride is 1, as libtorch reads it.
    /// </summary>
    public static bool IsChannelsLast(Tensor x)
    {
        // on the forward pass (shuffles, interleaves, pointwise convs): sizes and strides read once
        if (x.dim() != 4) return false;
        long[] size = x.shape, stride = x.stride();
        return stride[1] == 1 && stride[3] == size[1] && stride[2] == size[1] * size[3]
               && (size[1] == 1 ? size[2] * size[3] > 1 : !x.is_contiguous());
    }

    /// <summary>
    /// x with NHWC strides. A one-channel tensor (a grey image, a stem conv's weight) is the same bytes either way, and the
    /// copy keeps its NCHW strides; libtorch reads the format from the channel stride, and a stem reading an NCHW image
    /// answers NCHW where the next block answers channels_last (a BatchNorm then gets an NCHW input and a channels_last
    /// gradient: libtorch's serial backward). So such a tensor gets channel stride 1, a view of the same memory.
    /// </summary>
    public static Tensor ToChannelsLast(Tensor x)
    {
        if (x.dim() != 4) return x;
        var y = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        if (y.size(1) != 1) return y;   // every conv input of a forward pass takes this exit after one size read
        long h = y.size(2), w = y.size(3);
        return h * w > 1 && y.is_contiguous() ? y.as_strided([y.size(0), 1, h, w], [h * w, 1, w, 1], y.storage_offset()) : y;
    }

    /// <summary>Every 4-d parameter of the module re-laid out as channels_last, in place.</summary>
    public static void ToChannelsLast(nn.Module module)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();   // holds the re-laid-out copies until set_ has taken them (RESULTS.md, defect 6)
        foreach (var p in module.parameters())
            if (p.dim() == 4) p.set_(ToChannelsLast(p));
    }
}
