using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace ParNet.Runtime;

/// <summary>
/// Known defects of libtorch 2.10 (TorchSharp-cpu 0.107), and what we do about them.
///
/// With AVX-512 kernels, oneDNN's float32 convolutions are wrong whenever a conv's channel count per group is not
/// a multiple of 16 (the AVX-512 channel block): the kernels read the padding of the blocked layout, which holds
/// garbage. Measured on AMD EPYC Zen 4 (2 cores, AVX-512):
///  - forward, 3x3, x [2, C, 8, 8]: 6-19% relative L2 error for C = 20, 24, 40, 92, 110, 165, 200, ...;
///    exact for C = 16, 32, 48, 64, 96, 128, ...; at batch 1, C = 440 and 660 still wrong;
///  - backward-data: intermittent NaN input gradients (ConvBn 24 -> 24 at 32x32: 5 of 8 passes).
/// On AMD EPYC Zen 3 (AVX2 only; oneDNN dispatches its avx2 kernels) the same probes are exact (2026-12-02: forward
/// C = 8, 20, 24, 40, 92, 110, 165, 200 at batch 1 and 2, relative error under 1e-6; 48 ConvBn backward passes,
/// C = 8-110, no NaN, input gradients within 3e-7 of float64), so the defect is the AVX-512 kernels'
/// (<see cref="MisalignedChannelDefect"/>). On AVX-512 (2026-12-02, AMD EPYC family 26 model 2) the defect is the
/// blocked NCHW path and the NHWC 1x1 kernels: oneDNN's NHWC 3x3 kernels are exact for every width tried (8-200, forward
/// and backward), and <c>ONEDNN_MAX_CPU_ISA=AVX2</c> helps only multiples of 8. So our blocks compute every conv through
/// <c>Models.Blocks.Convolutions</c>: a 1x1 conv with such a width as a GEMM, any other conv on a channels_last input;
/// models keep oneDNN on (training such a width: 276 against 152 images/s with oneDNN off, fashion-mnist model at width 24).
/// Where a conv has no exact path (another kernel size), <see cref="OneDnnEnabled"/> turns oneDNN off, process-wide, before
/// that model runs: libtorch's own convolution is exact, 2-5x slower. PyTorch's switch
/// `torch.backends.mkldnn.enabled` is not exposed by TorchSharp, so <see cref="OneDnnEnabled"/> calls the same
/// libtorch function (at::Context::setUserEnabledMkldnn); <c>ImageClassifier.EnsureCorrectConvolutions</c> decides.
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

    /// <summary>True where oneDNN runs its AVX-512 kernels, whose convolutions get misaligned widths wrong (above).</summary>
    public static bool MisalignedChannelDefect => CpuCapabilities.Current.Avx512;

    /// <summary>
    /// Channel block of oneDNN's blocked layouts on this machine's ISA. 16 covers AVX-512 and AVX2
    /// (a multiple of 16 is also a multiple of 8).
    /// </summary>
    public const int SafeChannelMultiple = 16;
}
