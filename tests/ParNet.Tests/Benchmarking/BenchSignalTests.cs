using System.Diagnostics;
using ParNet.Tests.Data;
using ParNet.Tests.Scripts;

namespace ParNet.Tests.Benchmarking;

/// <summary>SIGTERM while `parnet bench` times its rows ended it (143) and left the empty --out folder it had made for the
/// report (bench/export audit, session 41): the folder goes, and a line says why there is no report.</summary>
public class BenchSignalTests
{
    [Fact]
    public async Task A_signal_while_timing_ends_bench_and_removes_the_empty_folder_it_made()
    {
        using var dir = new TempDirectory();
        string output = dir.File("new-folder");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "parnet.dll"), "bench", "--model", "parnet_cifar_small", "--only", "fused",
                                  "--rounds", "100000", "--threads", "1", "--out", output })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            // the timing under way: its progress lines on stdout ("  timing ...")
            string? line;
            while ((line = await process.StandardOutput.ReadLineAsync()) is not null && !line.StartsWith("  timing batch 1", StringComparison.Ordinal)) { }
            if (line is null) Assert.Fail($"bench ended before timing: {await stderr}");   // (a message awaited only when the output has ended)
            Assert.True(Directory.Exists(output));
            Assert.Equal(0, ProcessSignals.kill(process.Id, ProcessSignals.SigTerm));
            _ = process.StandardOutput.ReadToEndAsync();
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "still running a minute after the signal");
        }
        finally { if (!process.HasExited) process.Kill(); }
        process.WaitForExit();
        Assert.Equal(143, process.ExitCode);
        Assert.False(Directory.Exists(output));
        Assert.Contains("parnet bench: terminated (SIGTERM) while timing: no report written", await stderr);
    }
}
