using ParNet.Training;

namespace ParNet.Studies;

public enum CellEvent { Skipped, Started, Continued, Restarted, Epoch, Finished }

/// <summary>
/// What a study reports while it works (the library prints nothing; the CLI renders these): a cell's seed skipped, started,
/// continued from its unfinished attempt's checkpoint (<see cref="ContinuedFrom"/>), started again because that checkpoint
/// cannot be read (<see cref="Problem"/>), one of its epochs trained (<see cref="Epoch"/>) or finished (<see cref="Result"/>). <see cref="Run"/> of <see cref="Runs"/>
/// counts trained cells x seeds in the order they run, skipped ones included, so a long study says how far it is.
/// </summary>
public sealed record StudyProgress(CellEvent Event, string Cell, int Seed, int Run, int Runs)
{
    /// <summary>With <see cref="CellEvent.Epoch"/>: the epoch just trained (its loss, accuracy and images/s).</summary>
    public EpochEvent? Epoch { get; init; }

    /// <summary>With <see cref="CellEvent.Finished"/> and <see cref="CellEvent.Skipped"/>: what the seed measured.</summary>
    public CellRun? Result { get; init; }

    /// <summary>With <see cref="CellEvent.Continued"/>: where the unfinished attempt's checkpoint stands.</summary>
    public TrainingState? ContinuedFrom { get; init; }

    /// <summary>With <see cref="CellEvent.Started"/>: the estimated training time of this run and those after it
    /// (<see cref="StudyTimeLeft"/>); null before any run has finished.</summary>
    public TimeSpan? Left { get; init; }

    /// <summary>With <see cref="CellEvent.Restarted"/>: the checkpoint and why it cannot be read.</summary>
    public string? Problem { get; init; }
}
