using System.Text.Json;
using ParNet.Runtime;

namespace ParNet.Benchmarking;

/// <summary>The median of per-round ratios (ours / theirs), the number to quote, with its spread.</summary>
public sealed record RatioStats(double Median, double Min, double Max, int Rounds)
{
    public static RatioStats Of(IReadOnlyList<double> ratios)
    {
        var stats = TimingStats.Of(ratios);
        return new RatioStats(stats.Median, stats.Min, stats.Max, stats.Runs);
    }
}

/// <summary>
/// A `parnet train-bench` run as data (train-bench.json): the conditions (machine, command, load average before and after:
/// its rates mean something only on a quiet machine), our rate alone, or each round against the authors' steps on PyTorch
/// and the medians of the per-round ratios. scripts/cpu-frontier.sh read the ratios from the text, a line printed only with
/// more than one round (bench audit).
/// </summary>
public sealed record TrainingBenchmarkReport
{
    public required TrainingBenchmarkOptions Options { get; init; }
    /// <summary>torch threads of each process (the caller's: <see cref="TrainingBenchmark"/> leaves them to it).</summary>
    public required int Threads { get; init; }
    /// <summary>The command, machine, time and load around the numbers.</summary>
    public required BenchmarkConditions Conditions { get; init; }
    /// <summary>Our rate, where no PyTorch reference ran (else each round's is in <see cref="Rounds"/>).</summary>
    public TrainingBenchmarkResult? Ours { get; init; }
    /// <summary>The rounds against the authors' steps (<see cref="PyTorchTrainingReference.Compare"/>); empty without them.</summary>
    public IReadOnlyList<PyTorchTrainingReference.Round> Rounds { get; init; } = [];

    /// <summary>Ours / theirs in the same precision, over the rounds; null without rounds.</summary>
    public RatioStats? Ratio => Rounds.Count == 0 ? null : RatioStats.Of(Rounds.Select(r => r.Ratio).ToList());
    /// <summary>Ours / the faster of their precisions, round by round (as <see cref="Ratio"/> without bfloat16).</summary>
    public RatioStats? RatioToTheirFastest => Rounds.Count == 0 ? null : RatioStats.Of(Rounds.Select(r => r.RatioToTheirFastest).ToList());

    public const string FileName = "train-bench.json";

    /// <summary>Writes <see cref="FileName"/> into <paramref name="directory"/> (made if missing) at once; its path.</summary>
    public string Write(string directory)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, FileName);
        AtomicFile.WriteAllText(path, ToJson());
        return path;
    }

    public string ToJson() => JsonSerializer.Serialize(new
    {
        command = Conditions.Command, machine = Conditions.Machine, started_utc = Conditions.StartedUtc, seconds = Conditions.Seconds,
        load_average_before = Conditions.LoadBefore, load_average_after = Conditions.LoadAfter,
        model = Options.Model.Name, image_size = Options.ImageSize, batch = Options.Batch, steps = Options.Steps, warmup = Options.Warmup,
        threads = Threads, processes = Options.Processes.Size, bf16 = Options.BFloat16, channels_last = Options.ChannelsLast, forward_only = Options.ForwardOnly,
        ours = Ours is { } ours ? Rates(ours) : null,
        pytorch = Rounds.Count == 0 ? null : new { torch = Rounds[0].Theirs.TorchVersion, threads = Rounds[0].Theirs.Threads, parameters = Rounds[0].Theirs.Parameters },
        rounds = Rounds.Select(r => new
        {
            index = r.Index, ours_first = r.OursFirst, ours = Rates(r.Ours), theirs = Rates(r.Theirs.Result),
            theirs_fp32 = r.TheirsFloat32 is { } fp32 ? Rates(fp32) : null, ratio = r.Ratio, ratio_to_their_fastest = r.RatioToTheirFastest,
        }),
        ratio = Ratio is { } ratio ? Stats(ratio) : null,
        ratio_to_their_fastest = RatioToTheirFastest is { } fastest ? Stats(fastest) : null,
    }, new JsonSerializerOptions { WriteIndented = true });

    static object Rates(TrainingBenchmarkResult r) => new
    {
        images_per_second = r.ImagesPerSecond, forward_ms = r.ForwardMs, backward_ms = r.BackwardMs, update_ms = r.UpdateMs,
        communication_ms = r.CommunicationMs, bytes_per_step = r.BytesPerStep,
    };

    static object Stats(RatioStats s) => new { median = s.Median, min = s.Min, max = s.Max, rounds = s.Rounds };
}
