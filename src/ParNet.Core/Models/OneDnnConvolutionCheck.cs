using ParNet.Models.Blocks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ParNet.Models;

/// <summary>
/// Which of our networks would still hit libtorch 2.10's oneDNN defect (see <see cref="ParNet.Runtime.LibTorchWorkarounds"/>):
/// a conv with a width the AVX-512 kernels get wrong that <see cref="Convolutions.Apply(TorchSharp.Modules.Conv2d, TorchSharp.torch.Tensor)"/> has no exact path for. Its exact
/// paths cover the 1x1 convs (a GEMM) and the 3x3 convs of every stride and group count (channels_last, measured exact):
/// every conv of the registry's networks, so none of them turns oneDNN off any more. Another kernel size with such a
/// width would: the check stays for that.
/// </summary>
static class OneDnnConvolutionCheck
{
    public static bool NeedsOneDnnOff(nn.Module model, out string? example)
    {
        example = null;
        foreach (var (name, module) in model.named_modules())
        {
            if (module is not Conv2d conv || !Convolutions.NeedsExactPath(conv) || Convolutions.HasExactPath(conv)) continue;
            example = $"{name}: {conv.in_channels} -> {conv.out_channels} channels, groups {conv.groups}, kernel {string.Join("x", conv.kernel_size)}";
            return true;
        }
        return false;
    }
}
