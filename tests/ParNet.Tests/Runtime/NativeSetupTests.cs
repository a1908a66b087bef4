using System.Runtime.InteropServices;
using ParNet.Runtime;

namespace ParNet.Tests.Runtime;

/// <summary>What <see cref="NativeSetup"/> sets in libtorch before the first torch call.</summary>
public class NativeSetupTests
{
    [Fact]
    public void LibTorch_logs_errors_only_so_NNPACKs_warning_does_not_flood_stderr()
    {
        Assert.True(OperatingSystem.IsLinux(), "the libtorch this project ships is Linux x64");
        string? chosen = Environment.GetEnvironmentVariable("TORCH_CPP_LOG_LEVEL");   // ERROR: set by NativeSetup on loading ParNet.Core
        Assert.True(chosen is null or "ERROR", $"the test host runs with TORCH_CPP_LOG_LEVEL={chosen}: this test checks the default");
        NativeSetup.Configure();
        var c10 = NativeLibrary.Load("c10", typeof(NativeSetup).Assembly, null);
        // c10's levels: 0 INFO, 1 WARNING, 2 ERROR. Without c10::initLogging the variable is never read and this stays 1
        // ("Could not initialize NNPACK! Reason: Unsupported hardware" on every convolution oneDNN does not take).
        Assert.Equal(2, Marshal.ReadInt32(NativeLibrary.GetExport(c10, "FLAGS_caffe2_log_level")));
    }
}
