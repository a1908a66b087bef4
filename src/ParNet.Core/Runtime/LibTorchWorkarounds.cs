using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace ParNet.Runtime;

/// <summary>
/// Known defects of libtorch 2.10 (TorchSharp-cpu 0.107) on this CPU class, and what we do about them.
///
/// oneDNN's float32 convolutions are wrong whenever a conv's channel count per group is not a multiple
/// of 16 (the AVX-512 channel block): the kernels read the padding of the blocked layout, which holds
/// garbage. Measured on this machine (2-core AMD EPYC Zen 4):
///  - forward, 3x3, x [2, C, 8, 8]: 6-19% relative L2 error for C = 20, 24, 40, 92, 110, 165, 200, ...;
///    exact for C = 16, 32, 48, 64, 96, 128, ...; at batch 1, C = 440 and 660 still wrong;
///  - backward-data: intermittent NaN input gradients (ConvBn 24 -> 24 at 32x32: 5 of 8 passes).
/// So ParNet-S92 (92), XL (200) and the CIFAR medium/large widths (110, 165) compute wrong logits
/// with oneDNN on, and widths like 8 or 24 cannot be trained. With oneDNN off, libtorch's own
/// convolution is exact. PyTorch's switch `torch.backends.mkldnn.enabled` is not exposed by
/// TorchSharp, so <see cref="OneDnnEnabled"/> calls the same libtorch function
/// (at::Context::setUserEnabledMkldnn). Which models need it off is a question about their convolutions,
/// answered in Models (<c>ImageClassifier.EnsureCorrectConvolutions</c>): it turns oneDNN off, process-wide,
/// before a model that needs it runs; models whose widths are multiples of 16 keep it.
/// </summary>
public static class LibTorchWorkarounds
{
    const string LibTorchCpu = "libtorch_cpu.so";

    [DllImport(LibTorchCpu, EntryPoint = "_ZN2at13globalContextEv")]
    static extern IntPtr GlobalContext();

    [DllImport(LibTorchCpu, EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    static extern void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport(LibTorchCpu, EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    static extern bool UserEnabledMkldnn(IntPtr context);

    /// <summary>PyTorch's torch.backends.mkldnn.enabled (process-wide).</summary>
    public static bool OneDnnEnabled
    {
        get { EnsureLoaded(); return UserEnabledMkldnn(GlobalContext()); }
        set { EnsureLoaded(); SetUserEnabledMkldnn(GlobalContext(), value); }
    }

    /// <summary>Makes TorchSharp load libtorch, so that the P/Invokes above resolve.</summary>
    static void EnsureLoaded()
    {
        if (_loaded) return;   // checked on every forward of a flagged model: allocate once only
        empty(0).Dispose();
        _loaded = true;
    }

    static bool _loaded;

    /// <summary>
    /// Channel block of oneDNN's blocked layouts on this machine's ISA. 16 covers AVX-512 and AVX2
    /// (a multiple of 16 is also a multiple of 8).
    /// </summary>
    public const int SafeChannelMultiple = 16;
}
