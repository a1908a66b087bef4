using System.Diagnostics;
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

    /// <summary>SIGTERM while train was still reading its inputs ended it with 143 and not a word (walk of session 34): one
    /// line says so. The model configuration is a FIFO, so the signal comes while train is, for certain, reading it.</summary>
    [Fact]
    public async Task Sigterm_before_training_began_says_so_and_exits_143()
    {
        using var dir = new TempDirectory();
        string config = dir.File("model.json");
        using var fifo = new HeldFifo(config);
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "parnet.dll"), "train", "--subset", "1", "--test-subset", "1",
                                  "--config", config, "--out", dir.File("run") })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await fifo.HeldByAsync(process, () => stderr);
            HeldFifo.Signal(process.Id, HeldFifo.SigTerm);   // train now waits in a read of the FIFO
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "still running a minute after SIGTERM");
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
        Assert.Equal(143, process.ExitCode);
        Assert.Equal("parnet train: terminated (SIGTERM) before training began; no checkpoint was written\n", (await stderr).ReplaceLineEndings("\n"));
        Assert.Equal("", await stdout);
    }
}
