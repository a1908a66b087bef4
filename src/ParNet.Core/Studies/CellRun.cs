namespace ParNet.Studies;

/// <summary>What one cell measured with one seed; its file (cell.json in the run folder) marks the cell finished.</summary>
public sealed record CellRun(string Cell, int Seed, double Top1, long Parameters, int Depth, double FusedLatencyMs, double TrainSeconds)
{
    /// <summary>Whether libtorch's oneDNN convolutions were off when it was timed (LibTorchWorkarounds: widths oneDNN gets wrong
    /// on AVX-512 turn them off for the rest of the process): times of cells that differ here are not comparable.</summary>
    public bool OneDnnOff { get; init; }

    /// <summary>The CPU and torch threads its training finished on ("AMD EPYC (family 26 model 2): ..., 1 thread"); null in cells
    /// trained by versions before session 46's, which a report credited to the CPU of the command that last wrote it.</summary>
    public string? TrainedOn { get; init; }
}
