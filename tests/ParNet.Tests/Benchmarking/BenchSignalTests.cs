using System.Diagnostics;
using ParNet.Tests.Data;
using ParNet.Tests.Scripts;

namespace ParNet.Tests.Benchmarking;

/// <summary>SIGTERM while `parnet bench` times its rows ended it (143) and left the empty --out folder it had made for the
/// report (bench/export audit, session 41): the folder goes, and a line says why there is no report.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]   // SIGTERM by kill(2)
public class BenchSignalTests
{
    [Fact]
    public async Task A_signal_while_timing_ends_bench_and_removes_the_empty_folder_it_made()
    {
        using var dir = new TempDirectory();
        string output = dir.File("new-folder");
        var (code, stderr) = await SigtermWhileTiming(["--only", "fused", "--out", output], () => Assert.True(Directory.Exists(output)));
        Assert.Equal(143, code);
        Assert.False(Directory.Exists(output));
        Assert.Contains("parnet bench: terminated (SIGTERM) while timing: no report written", stderr);
    }

    /// <summary>Starts `parnet bench --model parnet_cifar_small --rounds 100000 --threads 1` with <paramref name="args"/>, waits
    /// for its batch-1 timing (its progress line on stderr), runs <paramref name="whileTiming"/>, sends SIGTERM; its exit code
    /// and stderr.</summary>
    internal static async Task<(int Code, string Err)> SigtermWhileTiming(string[] args, Action whileTiming)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "parnet.dll"), "bench", "--model", "parnet_cifar_small", "--rounds", "100000", "--threads", "1" }.Concat(args))
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        _ = process.StandardOutput.ReadToEndAsync();
        var before = new System.Text.StringBuilder();   // stderr up to the progress line
        Task<string> rest;
        try
        {
            string? line;
            while ((line = await process.StandardError.ReadLineAsync()) is not null && !line.StartsWith("  timing batch 1", StringComparison.Ordinal))
                before.AppendLine(line);
            if (line is null) Assert.Fail($"bench ended before timing: {before}");
            rest = process.StandardError.ReadToEndAsync();
            whileTiming();
            Assert.Equal(0, ProcessSignals.kill(process.Id, ProcessSignals.SigTerm));
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "still running a minute after the signal");
        }
        finally { if (!process.HasExited) process.Kill(entireProcessTree: true); }
        process.WaitForExit();
        string after = await rest;
        return (process.ExitCode, before + after);
    }
}

/// <summary>A signal while bench timed the PyTorch reference's rows ended bench and left the child's scripts in a
/// /tmp/parnet-pytorch-* folder (audit of session 41): the child is killed and the folder goes with the process.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]   // the stand-in for Python is a shell script
public class BenchChildSignalTests
{
    [Fact]
    public async Task A_signal_while_the_pytorch_child_runs_removes_its_scripts_folder()
    {
        using var dir = new TempDirectory();
        string python = dir.File("python"), seen = dir.File("child.txt");
        // the real script's protocol (PyTorchReferenceTests), its run answered slowly; it writes down its pid and its scripts' folder
        File.WriteAllText(python, $$"""
            #!/bin/sh
            echo "$$ $(dirname "$1")" > {{seen}}
            echo '{"torch": "1.13.1", "threads": 1, "rows": [{"key": "pytorch-resnet18", "name": "torchvision resnet18"}]}'
            while read cmd rest; do
              case "$cmd" in
                quit) exit 0 ;;
                ping) echo pong ;;
                run) sleep 0.2; echo 0.025 ;;
              esac
            done
            """.Replace("\r\n", "\n"));
        File.SetUnixFileMode(python, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Directory.CreateDirectory(dir.File("code/simplenet_impl"));   // what bench looks for in a checkout of the authors' code
        File.WriteAllText(dir.File("code/simplenet_impl/simpnet.py"), "");
        var (code, _) = await BenchSignalTests.SigtermWhileTiming(
            ["--only", "pytorch-resnet18", "--pytorch-code", dir.File("code"), "--python", python, "--out", dir.File("out")],
            () => Assert.True(Directory.Exists(File.ReadAllText(seen).Trim().Split(' ')[1]), "the child's scripts' folder is not there while it runs"));
        Assert.Equal(143, code);
        string[] child = File.ReadAllText(seen).Trim().Split(' ');
        Assert.False(Directory.Exists(child[1]), $"{child[1]} stayed");
        Assert.StartsWith(Path.Combine(Path.GetTempPath(), "parnet-pytorch-"), child[1]);
        int pid = int.Parse(child[0]);
        bool ended = SpinWait.SpinUntil(() => { try { return !ProcessSignals.Alive(pid); } catch (IOException) { return true; } }, TimeSpan.FromSeconds(10));
        Assert.True(ended, $"the child {child[0]} still runs");
    }
}
