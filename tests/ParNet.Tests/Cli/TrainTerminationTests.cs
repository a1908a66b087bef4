using System.Diagnostics;
using System.Runtime.InteropServices;
using ParNet.Tests.Data;
using ParNet.Training;
using SkiaSharp;

namespace ParNet.Tests.Cli;

/// <summary>
/// `parnet train` stopped by SIGTERM (a scheduler's preemption or time limit, docker stop, timeout(1)) saves a resumable
/// checkpoint and says so, as Ctrl-C does: the process ended at once, and the epoch in progress was lost.
/// </summary>
public class TrainTerminationTests
{
    [Fact]
    public async Task Sigterm_saves_the_run_where_it_stands_and_exits_143()
    {
        using var dir = new TempDirectory();
        foreach (var split in new[] { "train", "val" })
            foreach (var (label, shade) in new[] { ("a", 30), ("b", 220) })
            {
                Directory.CreateDirectory(dir.File(Path.Combine(split, label)));
                for (int i = 0; i < 4; i++)
                    File.WriteAllBytes(dir.File(Path.Combine(split, label, $"{i}.png")),
                        TempDirectory.EncodeImage(32, 32, (x, y) => ((byte)(shade + x), (byte)(shade - y), (byte)(i * 20)), SKEncodedImageFormat.Png));
            }
        string run = dir.File("run");
        var (exitCode, stdout) = await SigtermRun.RunAsync(["train", "--recipe", "cifar", "--dataset", "folder", "--data", dir.Path, "--width", "4",
                                                            "--epochs", "100000", "--batch-size", "2", "--threads", "1", "--out", run],
                                                           line => line.StartsWith("epoch 1/100000 batch ", StringComparison.Ordinal));   // a step trained
        Assert.Equal(143, exitCode);
        Assert.Contains(stdout, l => l.StartsWith($"terminated (SIGTERM): checkpoint saved in {Path.Combine(run, "checkpoints", "last")}; continue with: parnet train --resume "));
        using var saved = Checkpoint.Load(Path.Combine(run, "checkpoints", "last"));
        Assert.False(saved.State.Finished);
        Assert.True(saved.State.GlobalStep > 0);
    }

    [DllImport("libc", SetLastError = true)] static extern int mkfifo(string path, uint mode);
    [DllImport("libc", SetLastError = true)] static extern int open(string path, int flags);
    [DllImport("libc", SetLastError = true)] static extern int close(int fd);
    [DllImport("libc", SetLastError = true)] static extern int kill(int pid, int signal);
    const int WriteOnlyNonBlocking = 0x1 | 0x800;   // O_WRONLY | O_NONBLOCK: fails (ENXIO) until a reader has the FIFO open

    /// <summary>SIGTERM while train was still reading its inputs ended it with 143 and not a word (walk of session 34): one
    /// line says so. The pretrained weights are a FIFO, so the signal comes while train is, for certain, reading them.</summary>
    [Fact]
    public async Task Sigterm_before_training_began_says_so_and_exits_143()
    {
        using var dir = new TempDirectory();
        string weights = dir.File("w.safetensors");
        Assert.Equal(0, mkfifo(weights, Convert.ToUInt32("600", 8)));
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "parnet.dll"), "train", "--subset", "1", "--test-subset", "1",
                                  "--pretrained", weights, "--out", dir.File("run") })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        int writer = -1;
        try
        {
            for (var waited = Stopwatch.StartNew(); writer < 0; await Task.Delay(50))
            {
                writer = open(weights, WriteOnlyNonBlocking);
                Assert.True(writer >= 0 || (!process.HasExited && waited.Elapsed < TimeSpan.FromSeconds(120)),
                            $"train never opened the weights: {(process.HasExited ? await stderr : "still running")}");
            }
            Assert.Equal(0, kill(process.Id, 15));   // train now waits in a read of the FIFO
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "still running a minute after SIGTERM");
        }
        finally
        {
            if (!process.HasExited) process.Kill();
            if (writer >= 0) close(writer);
        }
        Assert.Equal(143, process.ExitCode);
        Assert.Equal("parnet train: terminated (SIGTERM) before training began; no checkpoint was written\n", (await stderr).ReplaceLineEndings("\n"));
        Assert.Equal("", await stdout);
    }
}
