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
    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int signal);

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
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "parnet.dll"), "train", "--recipe", "cifar", "--dataset", "folder",
                                  "--data", dir.Path, "--width", "4", "--epochs", "100000", "--batch-size", "2", "--threads", "1", "--out", run })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var firstStep = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stdout = new List<string>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) stdout.Add(e.Data);
            if (e.Data.StartsWith("epoch 1/100000 batch ")) firstStep.TrySetResult();   // a step trained
        };
        var stderr = process.StandardError.ReadToEndAsync();
        process.BeginOutputReadLine();
        try
        {
            var started = await Task.WhenAny(firstStep.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(120)));
            Assert.True(started == firstStep.Task, $"no training step: {string.Join("\n", stdout)}\n{(process.HasExited ? await stderr : "")}");
            Assert.Equal(0, kill(process.Id, 15));
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "still running a minute after SIGTERM");
        }
        finally { if (!process.HasExited) process.Kill(); }
        process.WaitForExit();

        Assert.Equal(143, process.ExitCode);
        lock (stdout)
            Assert.Contains(stdout, l => l.StartsWith($"terminated (SIGTERM): checkpoint saved in {Path.Combine(run, "checkpoints", "last")}; continue with: parnet train --resume "));
        using var saved = Checkpoint.Load(Path.Combine(run, "checkpoints", "last"));
        Assert.False(saved.State.Finished);
        Assert.True(saved.State.GlobalStep > 0);
    }
}
