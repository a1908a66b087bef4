using ParNet.Models;
using ParNet.Training;

namespace ParNet.Tests.Training;

/// <summary>A clock that moves only when told to.</summary>
sealed class ManualClock : TimeProvider
{
    long _ticks;
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    public override long GetTimestamp() => _ticks;
    public void Advance(TimeSpan by) => _ticks += by.Ticks;
}

/// <summary>Calls back on the reporting thread (System.Progress posts to the thread pool).</summary>
sealed class InlineProgress(Action<TrainEvent> onEvent) : IProgress<TrainEvent>
{
    public void Report(TrainEvent value) => onEvent(value);
}

public class ScheduleBudgetTests
{
    // 4 epochs of 5 batches (160 images, batch 32): 20 steps if the epochs decide; cosine from 0.05 to 0, no warm-up
    static Recipe FourEpochs => new()
    {
        Name = "test", Epochs = 4, BatchSize = 32, Lr = 0.05, Momentum = 0.9, Nesterov = true, WeightDecay = 1e-4,
        Schedule = ScheduleKind.Cosine, WarmupEpochs = 0, Seed = 3,
    };

    /// <summary>Trains with a clock that advances one second per step; returns the result and each step's LR.</summary>
    static (TrainResult Result, List<double> Lrs) Train(string dir, TimeSpan? budget, LoadedCheckpoint? resume = null, List<TrainEvent>? events = null)
    {
        var data = SyntheticSource.Patterns(160, 4, 8, 32);
        var clock = new ManualClock();
        var lrs = new List<double>();
        var progress = new InlineProgress(e =>
        {
            events?.Add(e);
            if (e is not StepEvent step) return;
            lrs.Add(step.Lr);
            clock.Advance(TimeSpan.FromSeconds(1));
        });
        Trainer.Seed(0);
        using var model = ModelFactory.Create(TinyModels.Config());
        using var trainer = new Trainer(model, data, data, new TrainOptions
        {
            Recipe = FourEpochs, RunDirectory = dir, ScheduleBudget = budget, Clock = clock, Progress = progress, EvalEvery = 10,
            ResumeFrom = resume,
        });
        return (trainer.Run(), lrs);
    }

    static double Cosine(double position) => 0.05 * 0.5 * (1 + Math.Cos(Math.PI * position / 4));

    [Fact]
    public void A_budget_shorter_than_the_epochs_anneals_the_LR_by_the_clock_and_ends_the_run_complete()
    {
        using var dir = new TempDir();
        var (result, lrs) = Train(dir.Path, TimeSpan.FromSeconds(12));

        // step k starts at k seconds: the schedule stands at 4 * k / 12 epochs, ahead of the epoch position k / 5
        Assert.Equal(12, lrs.Count);
        for (int k = 0; k < 12; k++) Assert.Equal(Cosine(4.0 * k / 12), lrs[k], 12);
        Assert.Equal(StopReason.Completed, result.Reason);
        Assert.True(result.State.Finished);
        Assert.Equal(12, result.State.GlobalStep);
        Assert.True(result.ScheduleBudgetEnded);   // what a front end says of the run: the clock, not the epochs, ended it
        // two whole epochs and two batches of the third, which is the last: evaluated although --eval-every is 10
        Assert.Equal(3, result.State.Epoch);
        Assert.Equal([null, null], result.State.History.Take(2).Select(m => m.TestAccuracy));
        Assert.NotNull(result.State.History[^1].TestAccuracy);
        Assert.Equal(0, result.State.History[^1].Lr, 9);
        Assert.Equal(12, result.State.ScheduleBudgetSeconds);
        Assert.Equal(12, result.State.WallSeconds, 9);

        // resuming the ended run without naming the budget again keeps the run's budget: nothing more to train, and its
        // checkpoint stays as it was (it was saved again), with the reason said
        string lastFolder = Path.Combine(dir.Path, "checkpoints", "last");
        var written = Directory.GetFiles(lastFolder).ToDictionary(f => f, File.GetLastWriteTimeUtc);
        using var last = Checkpoint.Load(lastFolder);
        var events = new List<TrainEvent>();
        var (resumed, more) = Train(dir.Path, budget: null, resume: last, events: events);
        Assert.Empty(more);
        Assert.Equal(12, resumed.State.GlobalStep);
        Assert.True(resumed.State.Finished);
        Assert.Equal(written, Directory.GetFiles(lastFolder).ToDictionary(f => f, File.GetLastWriteTimeUtc));
        Assert.Equal("a schedule budget of 0.2 min has ended the run's LR schedule: nothing to do (resume with TrainOptions.ScheduleBudget = MINUTES, " +
                     "more than 0.2, to train further)", Assert.Single(events.OfType<ScheduleSpentEvent>()).Text);
        Assert.False(Trainer.TrainsNothing(last.State, 4, TimeSpan.FromSeconds(20)));   // a larger budget given: there is more to train
    }

    [Fact]
    public void A_budget_ending_with_an_epochs_last_batch_makes_that_epoch_the_last_and_evaluates_it()
    {
        using var dir = new TempDir();
        var (result, lrs) = Train(dir.Path, TimeSpan.FromSeconds(10));   // 10 steps: two whole epochs of 5

        Assert.Equal(10, lrs.Count);
        for (int k = 0; k < 10; k++) Assert.Equal(Cosine(4.0 * k / 10), lrs[k], 12);
        Assert.Equal(StopReason.Completed, result.Reason);
        Assert.True(result.State.Finished);
        Assert.Equal(2, result.State.Epoch);
        Assert.True(result.ScheduleBudgetEnded);   // at an epoch's end, but before the recipe's last
        Assert.Equal(2, result.State.History.Count);
        Assert.Null(result.State.History[0].TestAccuracy);
        Assert.NotNull(result.State.History[^1].TestAccuracy);   // the last epoch, evaluated although --eval-every is 10
        Assert.Equal(0, result.State.History[^1].Lr, 9);
    }

    [Fact]
    public void A_budget_the_epochs_fit_in_changes_nothing()
    {
        using var dir = new TempDir();
        var (result, lrs) = Train(dir.Path, TimeSpan.FromSeconds(25));   // 20 steps take 20 s

        Assert.Equal(20, lrs.Count);
        for (int k = 0; k < 20; k++) Assert.Equal(Cosine(k / 5.0), lrs[k], 12);
        Assert.Equal(StopReason.Completed, result.Reason);
        Assert.Equal(4, result.State.Epoch);
        Assert.Equal(4, result.State.History.Count);
        Assert.False(result.ScheduleBudgetEnded);
    }

    [Fact]
    public void A_budget_of_no_time_is_refused()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<ArgumentException>(() => Train(dir.Path, TimeSpan.Zero));
        Assert.Contains("schedule budget must be positive", e.Message);
    }

    [Fact]
    public void The_budgeted_position_is_the_further_along_of_epochs_and_time()
    {
        Assert.Equal(2.0, LrSchedules.BudgetedPosition(2.0, epochs: 10, secondsUsed: 10, budgetSeconds: 100));   // epochs lead
        Assert.Equal(5.0, LrSchedules.BudgetedPosition(2.0, epochs: 10, secondsUsed: 50, budgetSeconds: 100));   // time leads
    }
}
