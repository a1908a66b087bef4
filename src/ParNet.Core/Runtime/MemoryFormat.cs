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
    public static Tensor ToChannelsLast(Tensor x) => x.dim() != 4 ? x : x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);

    /// <summary>Every 4-d parameter of the module re-laid out as channels_last, in place.</summary>
    public static void ToChannelsLast(nn.Module module)
    {
        using var noGrad = no_grad();
        foreach (var p in module.parameters())
            if (p.dim() == 4) p.set_(ToChannelsLast(p));
    }
}
