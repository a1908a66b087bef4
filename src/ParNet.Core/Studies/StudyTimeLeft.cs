namespace ParNet.Studies;

/// <summary>
/// How long a study's runs from here will take, estimated from the runs it has finished (a study of hours said only how far
/// it was: a left item of session 46). A cell with finished seeds: their mean training time per seed. A cell with none yet:
/// its compute (one image at its side) at the seconds per unit of compute of every finished run. Time per unit of compute
/// differs between shapes (a wide single stream trains slower per multiply-add than three narrow ones), so the estimate of a
/// cell is rough until its own first seed has finished; before any run has, there is none.
/// </summary>
public sealed class StudyTimeLeft(IReadOnlyDictionary<string, double> gflopsPerCell)
{
    readonly Dictionary<string, List<double>> _seconds = [];

    /// <summary>The estimator of <paramref name="study"/>'s trained cells (builds each cell's network once, to count its compute).</summary>
    public static StudyTimeLeft Of(Study study) => new(study.TrainedCells.ToDictionary(c => c.Name, c => StudyReport.GFlops(study, c)));

    /// <summary>A run finished, now or before (a skipped cell's record counts too: its time is as good a measure).</summary>
    public void Finished(CellRun run)
    {
        if (!_seconds.TryGetValue(run.Cell, out var list)) _seconds[run.Cell] = list = [];
        list.Add(run.TrainSeconds);
    }

    /// <summary>The estimated training time of <paramref name="runsLeft"/> (the cell of each run still to train, the current one
    /// included); null before any run has finished.</summary>
    public TimeSpan? Left(IEnumerable<string> runsLeft)
    {
        if (_seconds.Count == 0) return null;
        double perGflop = _seconds.Sum(c => c.Value.Sum()) / _seconds.Sum(c => c.Value.Count * gflopsPerCell[c.Key]);
        return TimeSpan.FromSeconds(runsLeft.Sum(cell => _seconds.TryGetValue(cell, out var done) ? done.Average() : gflopsPerCell[cell] * perGflop));
    }
}
