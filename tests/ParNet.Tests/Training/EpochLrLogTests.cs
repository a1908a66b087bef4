using System.Globalization;
using ParNet.Tests.Cli;
using ParNet.Tests.Data;

namespace ParNet.Tests.Training;

/// <summary>The LR an epoch's row of metrics.csv reports is the one that epoch trained at (its end), not the next epoch's.</summary>
public class EpochLrLogTests
{
    /// <summary>The LR column of metrics.csv after 2 epochs of a tiny run with LR 0.1, no warm-up, and this schedule.</summary>
    static double[] EpochLrs(params string[] schedule)
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        var trained = CliRunner.Run(["train", "--subset", "1", "--test-subset", "1", "--epochs", "2", "--width", "4", "--threads", "1",
                                     .. schedule, "--warmup", "0", "--lr", "0.1", "--out", run]);
        Assert.True(trained.Code == 0, trained.Err + trained.Out);
        return File.ReadAllLines(Path.Combine(run, "metrics.csv")).Skip(1)
            .Select(line => double.Parse(line.Split(',')[1], CultureInfo.InvariantCulture)).ToArray();
    }

    // LR 0.1 halved every epoch: epoch 1 trains at 0.1, epoch 2 at 0.05 (its progress lines say so); the rows said 0.05 and 0.025
    [Fact]
    public void A_step_schedules_epoch_rows_report_the_lr_the_epoch_trained_at() =>
        Assert.Equal([0.1, 0.05], EpochLrs("--schedule", "step", "--step-epochs", "1", "--gamma", "0.5"));

    // one milestone half-way through 2 epochs: epoch 2 trains at 0.1 x 0.25 (the fashion-mnist recipe has no milestones of its own)
    [Fact]
    public void A_multistep_schedule_steps_at_the_milestones_given() =>
        Assert.Equal([0.1, 0.025], EpochLrs("--schedule", "multistep", "--milestones", "0.5", "--gamma", "0.25"));
}
