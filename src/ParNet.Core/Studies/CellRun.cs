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

    /// <summary>The images it trained on and was scored on (the subsets drawn, or all of a split); null in cells of versions before
    /// session 47's, whose report said what the settings asked for, not what --data held (a data audit of session 47).</summary>
    public int? TrainImages { get; init; }
    public int? TestImages { get; init; }
}
