using ParNet.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ParNet.Models;

/// <summary>
/// Which of our networks hit libtorch 2.10's oneDNN defect (see <see cref="LibTorchWorkarounds"/>): a conv
/// whose per-group channel count is not a multiple of <see cref="LibTorchWorkarounds.SafeChannelMultiple"/>.
/// Knows the networks' module names, so it lives with the models, not with the runtime workaround.
/// </summary>
static class OneDnnConvolutionCheck
{
    /// <summary>
    /// True when the CPU has the defect and some conv has such a channel count. The convs that read the image itself (1 or 3 channels)
    /// take another oneDNN path, checked exact by the parity tests, and need no input gradient: not counted.
    /// </summary>
    public static bool NeedsOneDnnOff(nn.Module model, int imageChannels, out string? example)
    {
        example = null;
        if (!LibTorchWorkarounds.MisalignedChannelDefect) return false;
        foreach (var (name, module) in model.named_modules())
        {
            if (module is not Conv2d conv) continue;
            long cin = conv.in_channels / conv.groups, cout = conv.out_channels / conv.groups;
            bool readsImage = conv.in_channels == imageChannels && name.StartsWith("inits.0.0.", StringComparison.Ordinal)
                              || name.StartsWith("stem.", StringComparison.Ordinal);
            if (cout % LibTorchWorkarounds.SafeChannelMultiple != 0 || (!readsImage && cin % LibTorchWorkarounds.SafeChannelMultiple != 0))
            {
                example = $"{name}: {conv.in_channels} -> {conv.out_channels} channels, groups {conv.groups}";
                return true;
            }
        }
        return false;
    }
}
