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
}
