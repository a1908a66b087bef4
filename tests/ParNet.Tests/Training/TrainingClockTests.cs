using ParNet.Training;

namespace ParNet.Tests.Training;

/// <summary>The run's clocks and stop decision, driven by a manual clock.</summary>
public class TrainingClockTests
{
    static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    [Fact]
    public void Wall_time_counts_the_run_before_a_resume_and_epoch_time_the_partial_epoch_before()
    {
        var time = new ManualClock();
        var clock = new TrainingClock(time);
        clock.StartRun(wallSecondsBefore: 100);
        time.Advance(5 * Second);
        clock.StartEpoch(partialSecondsBefore: 7);
        time.Advance(3 * Second);
        Assert.Equal(108, clock.WallSeconds, 9);
        Assert.Equal(3, clock.EpochSeconds, 9);
        Assert.Equal(10, clock.PartialEpochSeconds, 9);
    }

    [Fact]
    public void The_schedule_follows_the_epochs_or_the_budgets_used_fraction_whichever_is_further()
    {
        var time = new ManualClock();
        var unbudgeted = new TrainingClock(time);
        var clock = new TrainingClock(time, scheduleBudget: 100 * Second);
        clock.StartRun(0);
        time.Advance(25 * Second);   // a quarter of the budget: 2 of 8 epochs
        Assert.Equal(2, clock.SchedulePosition(1.5, epochs: 8), 9);
        Assert.Equal(3, clock.SchedulePosition(3, epochs: 8), 9);
        Assert.Equal(1.5, unbudgeted.SchedulePosition(1.5, epochs: 8), 9);
        Assert.False(clock.ScheduleBudgetEnded(1.5, epochs: 8));
        time.Advance(75 * Second);
        Assert.True(clock.ScheduleBudgetEnded(1.5, epochs: 8));
        Assert.False(unbudgeted.ScheduleBudgetEnded(7.9, epochs: 8));   // without a budget only the epoch loop ends a run
    }

    [Fact]
    public void A_resume_keeps_the_checkpoints_schedule_budget_unless_given_another()
    {
        var time = new ManualClock();
        var inherited = new TrainingClock(time);
        inherited.ResumeScheduleBudget(600);
        Assert.Equal(TimeSpan.FromSeconds(600), inherited.ScheduleBudget);
        var given = new TrainingClock(time, scheduleBudget: 60 * Second);
        given.ResumeScheduleBudget(600);
        Assert.Equal(TimeSpan.FromSeconds(60), given.ScheduleBudget);
        Assert.Contains("must be positive", Assert.Throws<ArgumentException>(() => new TrainingClock(time, scheduleBudget: TimeSpan.Zero)).Message);
    }

    [Fact]
    public void Stops_for_cancellation_the_step_limit_and_the_time_budget_of_this_process()
    {
        var time = new ManualClock();
        var clock = new TrainingClock(time, timeBudget: 10 * Second, stopAfterSteps: 5);
        clock.StartRun(wallSecondsBefore: 1000);   // time before a resume does not count against the time budget
        Assert.Null(clock.StopBeforeStep(cancelled: false, stepsThisProcess: 4));
        Assert.Equal(StopReason.Interrupted, clock.StopBeforeStep(cancelled: true, stepsThisProcess: 0));
        Assert.Equal(StopReason.Interrupted, clock.StopBeforeStep(cancelled: false, stepsThisProcess: 5));
        time.Advance(9 * Second);
        Assert.Null(clock.StopBeforeStep(false, 0));
        time.Advance(Second);
        Assert.Equal(StopReason.TimeBudget, clock.StopBeforeStep(false, 0));
    }

    [Fact]
    public void The_eta_is_capped_by_what_is_left_of_the_schedule_budget()
    {
        var time = new ManualClock();
        var clock = new TrainingClock(time, scheduleBudget: 100 * Second);
        clock.StartRun(0);
        time.Advance(70 * Second);
        Assert.Equal(TimeSpan.FromSeconds(30), clock.Eta(500));
        Assert.Equal(TimeSpan.FromSeconds(12), clock.Eta(12));
        Assert.Equal(TimeSpan.FromSeconds(500), new TrainingClock(time).Eta(500));
        time.Advance(50 * Second);
        Assert.Equal(TimeSpan.Zero, clock.Eta(500));
    }
}
