using System.Diagnostics;

namespace ParNet.Tests.Scripts;

/// <summary>scripts/gpu-device.sh where it cannot run: a machine without an NVIDIA driver, or without the folder
/// scripts/gpu-pack.sh packs for the mode. `python3`, `tar`, `xz` and `sha256sum` are stubs that leave a mark. A copy of
/// the script runs in a folder of its own, on a PATH of the stubs alone: neither this checkout's packed folders nor a
/// GPU machine's real nvidia-smi can turn a case into another (the tests returned early there, passing unasserted).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]   // bash scripts, and shell-script stubs
public class GpuDeviceScriptTests
{
    static (int Code, string Stderr, string[] Calls) Run(string mode, bool withNvidiaSmi)
    {
        var temp = Directory.CreateTempSubdirectory("parnet-gpu-device-");
        try
        {
            string stubs = Directory.CreateDirectory(Path.Combine(temp.FullName, "stubs")).FullName;
            string marks = Path.Combine(temp.FullName, "calls");
            void Stub(string name, string body)
            {
                string stub = Path.Combine(stubs, name);
                File.WriteAllText(stub, $"#!/bin/sh\n{body}\n");
                File.SetUnixFileMode(stub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            foreach (var name in new[] { "python3", "tar", "xz", "sha256sum" }) Stub(name, $"echo \"{name} $*\" >> '{marks}'; exit 97");
            if (withNvidiaSmi) Stub("nvidia-smi", "echo 'GPU 0: NVIDIA H200 (UUID: GPU-0)'");
            File.CreateSymbolicLink(Path.Combine(stubs, "dirname"), "/usr/bin/dirname");   // the one program it runs before its checks
            string script = Path.Combine(Directory.CreateDirectory(Path.Combine(temp.FullName, "scripts")).FullName, "gpu-device.sh");
            File.Copy(Repository.Path("scripts", "gpu-device.sh"), script);   // its .device/ is then the temporary folder's: none
            var start = new ProcessStartInfo("/bin/bash") { WorkingDirectory = temp.FullName, RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(script);
            start.ArgumentList.Add(mode);
            start.Environment["PATH"] = stubs;
            start.Environment["OUT"] = Path.Combine(temp.FullName, "out");
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            Assert.True(process.WaitForExit(30_000), $"gpu-device.sh {mode} still running after 30 s");
            process.WaitForExit();
            _ = stdout.Result;
            return (process.ExitCode, stderr.Result, File.Exists(marks) ? File.ReadAllLines(marks) : []);
        }
        finally { temp.Delete(recursive: true); }
    }

    /// <summary>Without a GPU it went on: cp errors for each carried file, "nvidia-smi: command not found", then the
    /// authors' benchmark in Python (pytorch) or "this GPU is compute capability " with nothing after it (cli).</summary>
    [Theory]
    [InlineData("pytorch")]
    [InlineData("dotnet")]
    [InlineData("cli")]
    public void Without_an_nvidia_driver_it_says_so_and_runs_nothing(string mode)
    {
        var (code, stderr, calls) = Run(mode, withNvidiaSmi: false);
        Assert.Equal(1, code);
        Assert.Equal("gpu-device: no nvidia-smi: this machine has no NVIDIA driver (run this on the lent GPU machine; see --help)\n", stderr);
        Assert.Empty(calls);
    }

    /// <summary>Without gpu-pack.sh's folder for the mode: a cascade of cp, sed and sha256sum errors ending in "the carried
    /// parts do not match gpu-pack's checksums" (dotnet, cli), or the Python benchmark run without the authors' code (pytorch).</summary>
    [Theory]
    [InlineData("pytorch", "a")]
    [InlineData("dotnet", "b")]
    [InlineData("cli", "c")]
    public void Without_the_packed_folder_it_names_it_and_runs_nothing(string mode, string part)
    {
        var (code, stderr, calls) = Run(mode, withNvidiaSmi: true);
        Assert.Equal(1, code);
        Assert.Equal($"gpu-device: .device/{part} is missing: pack it with scripts/gpu-pack.sh, then carry .device/{part} to the GPU machine for '{mode}'\n", stderr);
        Assert.Empty(calls);
    }
}
