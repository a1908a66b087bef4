namespace ParNet.Benchmarking;

/// <summary>One measured configuration.</summary>
public sealed record BenchmarkResult
{
    public required string Key { get; init; }
    public required string Name { get; init; }
    public required string Engine { get; init; }
    /// <summary>2 x multiply-adds per image of the network as run (fused counts for fused variants).</summary>
    public required double GflopPerImage { get; init; }
    public required TimingStats Latency { get; init; }
    public required int Batch { get; init; }
    public required TimingStats BatchTime { get; init; }
    public double LatencyMs => Latency.Median * 1e3;
    public double ImagesPerSecond => Batch / BatchTime.Median;
    public double GflopsBatch1 => GflopPerImage / Latency.Median;
    public double GflopsBatchN => GflopPerImage * Batch / BatchTime.Median;
    public string? Note { get; init; }
}

public sealed record BenchmarkReport
{
    public required InferenceBenchmarkOptions Options { get; init; }
    /// <summary>The command, machine, time and load around the numbers.</summary>
    public required BenchmarkConditions Conditions { get; init; }
    /// <summary>The 2048^3 matmul's rate in its fastest run.</summary>
    public required double MatmulGflops { get; init; }
    /// <summary>The same in its median run: the "% matmul" columns' reference, as each row's rate is its median's.</summary>
    public required double MatmulGflopsMedian { get; init; }
    public required IReadOnlyList<BenchmarkResult> Results { get; init; }
    /// <summary>Facts about the run worth printing with the table (the PyTorch version, its fixture check).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
}
