using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ParNet.Runtime;

/// <summary>
/// Settings that libtorch reads from the environment once, when it loads: they must be in place before
/// the first torch call. .NET keeps its own copy of the environment, so the native setenv is called.
/// Runs when this library loads; programs that may touch TorchSharp first call <see cref="Configure"/>.
/// </summary>
public static class NativeSetup
{
    [DllImport("libc", EntryPoint = "setenv")]
    static extern int SetNativeEnvironment(string name, string value, int overwrite);

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int MallocOption(int option, int value);

    const int M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3;

#pragma warning disable CA2255 // a library initializer on purpose: libtorch reads these settings once, when it loads
    [ModuleInitializer]
    internal static void OnLoad() => Configure();
#pragma warning restore CA2255

    /// <summary>
    /// TORCH_CPP_LOG_LEVEL=ERROR unless the user chose a level: libtorch logs "Could not initialize
    /// NNPACK! Unsupported hardware" on every convolution it does not give to oneDNN, on CPUs NNPACK does not know
    /// (AMD Zen 3 and 4 here); harmless, but it floods the console, and a crashed test host's last words drowned in it
    /// (vstest shows only the start of its stderr). libtorch reads the variable only in c10::initLogging, which PyTorch's
    /// Python module calls and TorchSharp does not: it is called here. Idempotent.
    /// </summary>
    public static void Configure()
    {
        KeepFreedTensorMemoryInHeap();
        if (!OperatingSystem.IsLinux() || _loggingConfigured) return;
        _loggingConfigured = true;
        if (Environment.GetEnvironmentVariable("TORCH_CPP_LOG_LEVEL") is null)
        {
            SetNativeEnvironment("TORCH_CPP_LOG_LEVEL", "ERROR", 0);
            Environment.SetEnvironmentVariable("TORCH_CPP_LOG_LEVEL", "ERROR");
        }
        try { InitLibTorchLogging(); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }   // another libtorch build: its logging as it is
    }

    static bool _loggingConfigured;

    /// <summary>
    /// OMP_WAIT_POLICY for libgomp (passive: OpenMP threads sleep between parallel regions; active: they spin), which reads
    /// it once, when it loads with libtorch: effective only before the process's first torch call, including one that
    /// reads weights (a .pth.tar checkpoint's). Set in both environments, the native one for libgomp and .NET's copy for
    /// what reports it.
    /// </summary>
    public static void SetOpenMpWaitPolicy(string policy)
    {
        SetNativeEnvironment("OMP_WAIT_POLICY", policy.ToUpperInvariant(), 1);
        Environment.SetEnvironmentVariable("OMP_WAIT_POLICY", policy.ToUpperInvariant());
    }

    /// <summary>c10::initLogging(): sets libtorch's log level from TORCH_CPP_LOG_LEVEL (libc10.so, beside libtorch).</summary>
    [DllImport("c10", EntryPoint = "_ZN3c1011initLoggingEv")]
    static extern void InitLibTorchLogging();

    /// <summary>
    /// glibc serves every allocation above 128 KiB with a fresh mmap and returns it with munmap, so each
    /// activation tensor of a training step costs page faults on first touch: a Fashion-MNIST run spent a
    /// fifth of its CPU time in the kernel. Raising the mmap threshold to its maximum (32 MiB) and the trim
    /// threshold to 1 GiB lets freed tensor memory be reused from the heap (what PyTorch users get with
    /// jemalloc or MALLOC_MMAP_THRESHOLD_). Skipped when the user set either variable.
    /// </summary>
    static void KeepFreedTensorMemoryInHeap()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is not null
            || Environment.GetEnvironmentVariable("MALLOC_TRIM_THRESHOLD_") is not null || _mallocConfigured) return;
        _mallocConfigured = true;
        MallocOption(M_MMAP_THRESHOLD, 32 << 20);
        MallocOption(M_TRIM_THRESHOLD, 1 << 30);
    }

    static bool _mallocConfigured;

    [DllImport("libc", EntryPoint = "malloc_trim")]
    static extern int MallocTrim(nuint pad);

    /// <summary>
    /// Returns the heap's free memory to the system (glibc malloc_trim), so that the resident size then
    /// measures what is in use: with the thresholds above, freed tensors otherwise stay resident for reuse.
    /// </summary>
    public static void ReleaseFreeHeapMemory()
    {
        if (OperatingSystem.IsLinux()) MallocTrim(0);
    }
}
