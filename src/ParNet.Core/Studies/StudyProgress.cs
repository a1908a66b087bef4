using ParNet.Training;

namespace ParNet.Studies;

public enum CellEvent { Skipped, Started, Epoch, Finished }

/// <summary>
/// What a study reports while it works (the library prints nothing; the CLI renders these): a cell's seed skipped, started,
/// one of its epochs trained (<see cref="Epoch"/>) or finished (<see cref="Result"/>). <see cref="Run"/> of <see cref="Runs"/>
/// counts trained cells x seeds in the order they run, skipped ones included, so a long study says how far it is.
/// </summary>
public sealed record StudyProgress(CellEvent Event, string Cell, int Seed, int Run, int Runs)
{
    /// <summary>With <see cref="CellEvent.Epoch"/>: the epoch just trained (its loss, accuracy and images/s).</summary>
    public EpochEvent? Epoch { get; init; }

    /// <summary>With <see cref="CellEvent.Finished"/> and <see cref="CellEvent.Skipped"/>: what the seed measured.</summary>
    public CellRun? Result { get; init; }
}
