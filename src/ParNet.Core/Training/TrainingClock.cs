namespace ParNet.Training;

/// <summary>
/// The clocks of a training run and its stop decision, in one place: the time budget (training time in this
/// process), the schedule budget (wall time of the whole run, resumes included), the run's wall time, and the
/// current epoch's time (with what a resumed partial epoch had already taken). Time comes from a
/// <see cref="TimeProvider"/>, so tests drive it by hand.
/// </summary>
public sealed class TrainingClock
{
    readonly TimeProvider _time;
    readonly TimeSpan? _timeBudget;
    readonly long? _stopAfterSteps;
    long _runStart, _epochStart;
    double _wallSecondsBefore, _partialSecondsBefore;

    /// <param name="time">where time comes from</param>
    /// <param name="timeBudget">stop after this much time in this process (null: never)</param>
    /// <param name="scheduleBudget">fit the LR schedule into this much wall time of the run (null: the epochs alone set it)</param>
    /// <param name="stopAfterSteps">test hook: stop as if interrupted after this many steps in this process</param>
    public TrainingClock(TimeProvider time, TimeSpan? timeBudget = null, TimeSpan? scheduleBudget = null, long? stopAfterSteps = null)
    {
        if (scheduleBudget is { } budget && budget <= TimeSpan.Zero)
            throw new ArgumentException($"the schedule budget must be positive, not {budget}");
        _time = time;
        _timeBudget = timeBudget;
        _stopAfterSteps = stopAfterSteps;
        ScheduleBudget = scheduleBudget;
        _runStart = _epochStart = time.GetTimestamp();
    }

    /// <summary>The schedule budget in force (null: none).</summary>
    public TimeSpan? ScheduleBudget { get; private set; }

    /// <summary>A resumed run keeps the schedule budget it was started with unless this run was given one.</summary>
    public void ResumeScheduleBudget(double? checkpointSeconds)
    {
        if (ScheduleBudget is null && checkpointSeconds is double seconds) ScheduleBudget = TimeSpan.FromSeconds(seconds);
    }

    /// <summary>Starts this process's share of the run, which had already taken <paramref name="wallSecondsBefore"/>.</summary>
    public void StartRun(double wallSecondsBefore)
    {
        _runStart = _time.GetTimestamp();
        _wallSecondsBefore = wallSecondsBefore;
    }

    /// <summary>Starts (or continues) an epoch that had already taken <paramref name="partialSecondsBefore"/> before a resume.</summary>
    public void StartEpoch(double partialSecondsBefore = 0)
    {
        _epochStart = _time.GetTimestamp();
        _partialSecondsBefore = partialSecondsBefore;
    }

    /// <summary>Seconds since <see cref="StartEpoch"/> in this process.</summary>
    public double EpochSeconds => _time.GetElapsedTime(_epochStart).TotalSeconds;

    /// <summary>Seconds of the current epoch, the part before a resume included.</summary>
    public double PartialEpochSeconds => _partialSecondsBefore + EpochSeconds;

    /// <summary>Wall time of the run so far (training, evaluation, checkpoints), resumes included.</summary>
    public double WallSeconds => _wallSecondsBefore + _time.GetElapsedTime(_runStart).TotalSeconds;

    /// <summary>Where the LR schedule of <paramref name="epochs"/> stands, in epochs, when training has reached <paramref name="epochPosition"/>
    /// and the run has taken <paramref name="wallSeconds"/> (default: <see cref="WallSeconds"/>; data-parallel runs pass the processes' agreed time).</summary>
    public double SchedulePosition(double epochPosition, int epochs, double? wallSeconds = null) => ScheduleBudget is { } budget
        ? LrSchedules.BudgetedPosition(epochPosition, epochs, wallSeconds ?? WallSeconds, budget.TotalSeconds)
        : epochPosition;

    /// <summary>Whether the schedule budget has ended the schedule at <paramref name="epochPosition"/> (never without one).</summary>
    public bool ScheduleBudgetEnded(double epochPosition, int epochs, double? wallSeconds = null) =>
        ScheduleBudget is not null && SchedulePosition(epochPosition, epochs, wallSeconds) >= epochs;

    /// <summary>Why the run must stop before its next step, or null to go on.</summary>
    public StopReason? StopBeforeStep(bool cancelled, long stepsThisProcess) =>
        cancelled || (_stopAfterSteps is long max && stepsThisProcess >= max) ? StopReason.Interrupted
        : _timeBudget is { } budget && _time.GetElapsedTime(_runStart) >= budget ? StopReason.TimeBudget
        : null;

    /// <summary>An estimate of the time left at the current speed, capped by what is left of the schedule budget.</summary>
    public TimeSpan Eta(double secondsAtCurrentSpeed) => TimeSpan.FromSeconds(ScheduleBudget is { } budget
        ? Math.Clamp(budget.TotalSeconds - WallSeconds, 0, secondsAtCurrentSpeed)
        : secondsAtCurrentSpeed);
}
