using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ParNet;

/// <summary>
/// Runs when the library loads, before libtorch does. libtorch logs "Could not initialize NNPACK!
/// Unsupported hardware" on every convolution on CPUs NNPACK does not know (AMD Zen 4 here); the
/// warning is harmless (oneDNN does the work), so c10's log level is raised to errors unless the
/// user chose one. .NET keeps its own copy of the environment, so the native setenv is called.
/// </summary>
static class NativeSetup
{
    [DllImport("libc", EntryPoint = "setenv")]
    static extern int SetNativeEnvironment(string name, string value, int overwrite);

    [ModuleInitializer]
    internal static void QuietLibTorchWarnings()
    {
        if (OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("TORCH_CPP_LOG_LEVEL") is null)
            SetNativeEnvironment("TORCH_CPP_LOG_LEVEL", "ERROR", 0);
    }
}
