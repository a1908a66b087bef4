using System.Diagnostics;
using ParNet.Tests.Data;
using ParNet.Tests.Scripts;

namespace ParNet.Tests.Benchmarking;

/// <summary>SIGTERM while train-bench timed its rounds against the PyTorch child ended it without a word, where bench says
/// why there is no report (bench audit): one line, the child gone, and the --out folder it made for the report removed.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]   // SIGTERM by kill(2); the stand-in for Python is a shell script
public class TrainBenchSignalTests
{
    [Fact]
    public async Task A_signal_while_timing_ends_train_bench_with_a_line()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("code/simplenet_impl"));   // what the check looks for in a checkout of the authors' code
        File.WriteAllText(dir.File("code/simplenet_impl/simpnet.py"), "");
        string python = dir.File("python");
        // the training reference's protocol (PyTorchTrainingReferenceTests), its steps answered slowly
        File.WriteAllText(python, """
            #!/bin/sh
            echo '{"torch": "1.13.1", "threads": 1, "parameters": 349978}'
            while read cmd rest; do
              case "$cmd" in
                quit) exit 0 ;;
                steps) sleep 0.3; echo '{"forward_s": [0.1], "backward_s": [0.2], "update_s": [0.05]}' ;;
              esac
            done
            """.Replace("\r\n", "\n"));
        File.SetUnixFileMode(python, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "parnet.dll"), "train-bench", "--steps", "1", "--batch-size", "2", "--threads", "1",
                                  "--rounds", "100000", "--pytorch-code", dir.File("code"), "--python", python, "--out", dir.File("out") })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            string? line;
            while ((line = await process.StandardOutput.ReadLineAsync()) is not null && !line.StartsWith("round 2 of", StringComparison.Ordinal)) { }
            Assert.NotNull(line);   // it got to its second round
            Assert.True(Directory.Exists(dir.File("out")), "the --out folder is made before timing");
            Assert.Equal(0, ProcessSignals.kill(process.Id, ProcessSignals.SigTerm));
            _ = process.StandardOutput.ReadToEndAsync();
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "still running a minute after the signal");
        }
        finally { if (!process.HasExited) process.Kill(entireProcessTree: true); }
        process.WaitForExit();
        Assert.Equal(143, process.ExitCode);
        Assert.Equal("parnet train-bench: terminated (SIGTERM) while timing: no result\n", await stderr);
        Assert.False(Directory.Exists(dir.File("out")), "the empty --out folder it made stayed");
    }
}
