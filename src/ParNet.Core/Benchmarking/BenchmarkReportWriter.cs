using System.Globalization;
using System.Text;
using System.Text.Json;
using ParNet.Runtime;
using ParNet.Training;

namespace ParNet.Benchmarking;

/// <summary>
/// bench.json, bench.md (header: machine, command, conditions) and bench.png (latency bars) in a folder, as a set: each file
/// is written whole (<see cref="AtomicFile"/>), a run removes the previous run's set before it starts timing
/// (<see cref="RemoveReport"/>), and bench.json, the record, comes last. A run that fails or is stopped therefore leaves
/// no earlier run's files beside its own (a new bench.json beside an old bench.md and bench.png could be left: bench audit).
/// </summary>
public static class BenchmarkReportWriter
{
    /// <summary>The files of a report, in the order <see cref="Write"/> writes them.</summary>
    public static readonly IReadOnlyList<string> FileNames = ["bench.md", "bench.png", "bench.json"];

    public static IReadOnlyList<string> Write(BenchmarkReport report, string directory)
    {
        Directory.CreateDirectory(directory);
        var paths = FileNames.Select(name => Path.Combine(directory, name)).ToArray();
        AtomicFile.WriteAllText(paths[0], ToMarkdown(report));
        Chart(report, paths[1]);
        AtomicFile.WriteAllText(paths[2], ToJson(report));
        return paths;
    }

    /// <summary>The report files of <paramref name="directory"/> replaced by this report's as a set: an earlier run's are
    /// removed first, so that no file of it stays beside the new ones should a write fail (the caller then removes this run's).</summary>
    public static IReadOnlyList<string> Replace(BenchmarkReport report, string directory)
    {
        RemoveReport(directory);
        return Write(report, directory);
    }

    /// <summary>Deletes the report files in <paramref name="directory"/> (an earlier run's, or this one's partly written), and
    /// nothing else there.</summary>
    public static void RemoveReport(string directory)
    {
        foreach (string name in FileNames)
        {
            string path = Path.Combine(directory, name);
            if (File.Exists(path)) File.Delete(path);
        }
    }

    static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);

    public static string ToJson(BenchmarkReport r) => JsonSerializer.Serialize(new
    {
        command = r.Conditions.Command,
        machine = r.Conditions.Machine,
        started_utc = r.Conditions.StartedUtc,
        seconds = r.Conditions.Seconds,
        load_average_before = r.Conditions.LoadBefore,
        load_average_after = r.Conditions.LoadAfter,
        model = r.Options.Model.Name,
        image_size = r.Options.ImageSize,
        batch = r.Options.Batch,
        threads = r.Options.Threads,
        warmup = r.Options.Warmup, throughput_warmup = InferenceBenchmark.ThroughputWarmup(r.Options),
        rounds = r.Options.Rounds,
        throughput_rounds = r.Options.ThroughputRounds,
        matmul_2048_gflops = r.MatmulGflops,
        matmul_2048_gflops_median = r.MatmulGflopsMedian,   // the fractions' reference: a median, as each row's rate
        notes = r.Notes,
        results = r.Results.Select(x => new
        {
            key = x.Key, name = x.Name, engine = x.Engine, gflop_per_image = x.GflopPerImage,
            latency_ms = new { median = x.Latency.Median * 1e3, min = x.Latency.Min * 1e3, max = x.Latency.Max * 1e3, runs = x.Latency.Runs },
            batch = x.Batch,
            batch_ms = new { median = x.BatchTime.Median * 1e3, min = x.BatchTime.Min * 1e3, max = x.BatchTime.Max * 1e3, runs = x.BatchTime.Runs },
            images_per_second = x.ImagesPerSecond,
            gflops_batch1 = x.GflopsBatch1, gflops_batchN = x.GflopsBatchN,
            fraction_of_matmul_rate_batch1 = x.GflopsBatch1 / r.MatmulGflopsMedian,
            fraction_of_matmul_rate_batchN = x.GflopsBatchN / r.MatmulGflopsMedian,
            note = x.Note,
        }),
    }, new JsonSerializerOptions { WriteIndented = true });

    public static string ToMarkdown(BenchmarkReport r)
    {
        var o = r.Options;
        var sb = new StringBuilder();
        sb.AppendLine($"# Inference benchmark: {o.Model.Name} at {o.ImageSize}x{o.ImageSize}");
        sb.AppendLine();
        sb.AppendLine($"- machine: {r.Conditions.Machine}");
        sb.AppendLine($"- command: `{r.Conditions.Command}`");
        sb.AppendLine($"- started {r.Conditions.StartedUtc:yyyy-MM-dd HH:mm} UTC, took {F(r.Conditions.Seconds, "F0")} s; load average before `{r.Conditions.LoadBefore}`, after `{r.Conditions.LoadAfter}` " +
                      "(anything well above 0 means other processes shared the cores: compare rows of one run as ratios)");
        sb.AppendLine($"- {o.Threads} intra-op thread(s); eval mode, torch.inference_mode(); warm-up {o.Warmup} round(s) at batch 1, " +
                      $"{InferenceBenchmark.ThroughputWarmup(o)} at batch {o.Batch}; batch 1 x {o.Rounds} rounds, batch {o.Batch} x {o.ThroughputRounds} rounds (a round: every row {InferenceBenchmark.UntimedBefore} times untimed, once timed); median (min-max)");
        // each row's rate is its median's: the best matmul run as the reference read every row up to 20% low (bench audit)
        sb.AppendLine($"- matmul 2048^3 float32: {F(r.MatmulGflopsMedian, "F0")} GFLOP/s median, {F(r.MatmulGflops, "F0")} best, timed once before the rows " +
                      "(the \"% matmul\" columns divide each row's median rate by the median: a GEMM's rate, not the machine's peak; rows beyond 100% outrun it)");
        sb.AppendLine("- GFLOP = 2 x multiply-adds per image of the network as run (LayerGraph; fused counts for fused rows; torchvision's table for ResNets; a timed ONNX file that stores no form, another tool's: its graph's Conv, Gemm and MatMul layers)");
        foreach (var note in r.Notes) sb.AppendLine($"- {note}");
        sb.AppendLine();
        sb.AppendLine($"| variant | engine | GFLOP | batch 1 ms, median (min-max) | GFLOP/s b1 | % matmul b1 | batch {o.Batch} img/s | GFLOP/s b{o.Batch} | % matmul b{o.Batch} | note |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var x in r.Results)
            sb.AppendLine($"| {x.Name} | {x.Engine} | {F(x.GflopPerImage, "F2")} | {F(x.LatencyMs, "F1")} ({F(x.Latency.Min * 1e3, "F1")}-{F(x.Latency.Max * 1e3, "F1")}) | " +
                          $"{F(x.GflopsBatch1, "F0")} | {F(100 * x.GflopsBatch1 / r.MatmulGflopsMedian, "F0")}% | {F(x.ImagesPerSecond, "F1")} | {F(x.GflopsBatchN, "F0")} | " +
                          $"{F(100 * x.GflopsBatchN / r.MatmulGflopsMedian, "F0")}% | {x.Note ?? ""} |");
        return sb.ToString();
    }

    static readonly (string Name, ScottPlot.Color Color)[] EngineColors =
    [
        ("ParNet, TorchSharp", Charts.Color(0)), ("ParNet, ONNX Runtime", Charts.Color(1)),
        ("ResNet baselines, TorchSharp", new(0x99, 0x99, 0x99)), ("PyTorch (authors' code, torchvision)", Charts.Color(2)),
    ];

    static ScottPlot.Color ColorOf(BenchmarkResult x) =>
        x.Engine == "ONNX Runtime" ? EngineColors[1].Color : x.Key.StartsWith("pytorch-", StringComparison.Ordinal) ? EngineColors[3].Color
        : x.Key.StartsWith("resnet", StringComparison.Ordinal) ? EngineColors[2].Color : EngineColors[0].Color;

    /// <summary>Batch-1 latency bars with min-max whiskers; a log axis when the times span more than 10x. Returns whether it was.</summary>
    public static bool Chart(BenchmarkReport r, string path) =>
        Charts.HorizontalBars(path,
            $"batch-1 latency, {r.Options.Model.Name} {r.Options.ImageSize}px, {r.Options.Threads} threads",
            "milliseconds (bar: median; whisker: min-max)",
            r.Results.Select(x => new Charts.BarItem($"{x.Name} ({x.Engine})", x.LatencyMs, x.Latency.Min * 1e3, x.Latency.Max * 1e3, ColorOf(x))).ToList(),
            EngineColors.Where(e => r.Results.Any(x => ColorOf(x) == e.Color)).ToList());
}
