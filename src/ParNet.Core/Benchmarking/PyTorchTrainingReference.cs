using System.Text.Json;
using ParNet.Models;

namespace ParNet.Benchmarking;

/// <summary>
/// The peer row of `parnet train-bench`: bench/pytorch/pytorch_train_reference.py (embedded) times training steps of the
/// same network assembled from the authors' released blocks on PyTorch, with the same batch, size, steps, warm-up,
/// threads and layout, in a child process after our row. Its parameter count must equal ours, or it is not the same
/// network and no ratio is given.
/// </summary>
public static class PyTorchTrainingReference
{
    public sealed record Outcome(TrainingBenchmarkResult Result, string TorchVersion, int Threads, long Parameters);

    /// <summary>Null when the script can build the model; otherwise why not.</summary>
    public static string? WhyUnsupported(ModelConfig c) =>
        c.Layout != Layout.Cifar || c.BlockType != BlockType.RepVggSse || c.Streams != 3
            ? $"{c.Name}: the PyTorch training reference builds the CIFAR layout with 3 streams of RepVGG-SSE blocks (the fashion-mnist network)"
            : c.BlockDropout > 0 || c.HeadDropout > 0 ? $"{c.Name}: the PyTorch training reference has no dropout" : null;

    public static Outcome Run(PyTorchReferenceOptions p, TrainingBenchmarkOptions o, int threads, long ourParameters)
    {
        if (!File.Exists(p.Python))
            throw new ArgumentException($"PyTorch reference: {p.Python} not found (Debian: apt-get install python3-torch)");
        if (p.AuthorsCode is null) throw new ArgumentException("PyTorch reference: it needs the authors' code (--pytorch-code DIR)");
        if (o.BFloat16 || o.ForwardOnly) throw new ArgumentException("PyTorch reference: it times float32 training steps only (no --bf16, no --forward-only)");
        var c = o.Model;
        if (WhyUnsupported(c) is string why) throw new ArgumentException($"PyTorch reference: {why}");

        string folder = PyTorchReference.WriteScripts();
        try
        {
            string[] args =
            [
                Path.Combine(folder, "pytorch_train_reference.py"), "--code", p.AuthorsCode,
                "--planes", string.Join(",", c.Planes), "--blocks", string.Join(",", c.BlocksPerStream), "--final-width", $"{c.FinalWidth}",
                "--in-channels", $"{c.InChannels}", "--classes", $"{c.NumClasses}",
                "--activation", c.Activation == ActivationKind.SiLU ? "silu" : "relu", "--sse", c.UseSse ? "true" : "false",
                "--image-size", $"{o.ImageSize}", "--batch", $"{o.Batch}", "--steps", $"{o.Steps}", "--warmup", $"{o.Warmup}",
                "--threads", $"{threads}", "--channels-last", o.ChannelsLast ? "true" : "false",
            ];
            var outcome = Parse(PyTorchReference.RunProcess(p.Python, args, null), o.Batch);
            if (outcome.Parameters != ourParameters)
                throw new InvalidOperationException($"PyTorch reference: its network has {outcome.Parameters:N0} parameters, ours {ourParameters:N0}: " +
                                                    "not the same network, so no comparison");
            return outcome;
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    /// <summary>One round of <see cref="Compare"/>: our steps and the authors', timed back to back.</summary>
    public sealed record Round(int Index, bool OursFirst, TrainingBenchmarkResult Ours, Outcome Theirs)
    {
        public double Ratio => Ours.ImagesPerSecond / Theirs.Result.ImagesPerSecond;
    }

    /// <summary>
    /// Our training steps (<see cref="TrainingBenchmark.Run"/>, at the caller's torch threads) against the authors' blocks
    /// (<see cref="Run"/>) in <paramref name="rounds"/> rounds, who goes first alternating (ours in round 1), so that a
    /// machine whose speed drifts is compared round by round: on a shared 2-core VM the authors' rate moved 620-793
    /// images/s and the ratio 1.40-1.81x between three runs in one minute (Zen 5, 2026-12-03). The median of the
    /// per-round ratios is the number to quote (<see cref="MedianRatio"/>).
    /// </summary>
    public static IReadOnlyList<Round> Compare(PyTorchReferenceOptions p, TrainingBenchmarkOptions o, int threads, int rounds, Action<Round>? onRound = null)
    {
        if (rounds < 1) throw new ArgumentException($"rounds must be >= 1; got {rounds}");
        var done = new List<Round>();
        long parameters = 0;
        for (int i = 0; i < rounds; i++)
        {
            bool oursFirst = i % 2 == 0;
            TrainingBenchmarkResult? ours = null;
            if (oursFirst) { ours = TrainingBenchmark.Run(o); parameters = ours.Parameters; }
            var theirs = Run(p, o, threads, parameters);   // round 1 runs ours first: the count is known
            ours ??= TrainingBenchmark.Run(o);
            var round = new Round(i + 1, oursFirst, ours, theirs);
            done.Add(round);
            onRound?.Invoke(round);
        }
        return done;
    }

    public static double MedianRatio(IReadOnlyList<Round> rounds) => TimingStats.Of(rounds.Select(r => r.Ratio).ToList()).Median;

    /// <summary>The script's JSON: per-step seconds, turned into the same means as <see cref="TrainingBenchmark.Run"/>.</summary>
    public static Outcome Parse(string json, int batch)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        double[] Seconds(string name) => root.GetProperty(name).EnumerateArray().Select(e => e.GetDouble()).ToArray();
        double[] forward = Seconds("forward_s"), backward = Seconds("backward_s"), update = Seconds("update_s");
        if (forward.Length == 0 || forward.Length != backward.Length || forward.Length != update.Length)
            throw new InvalidDataException("PyTorch reference: the per-step timings are missing or of different lengths");
        int steps = forward.Length;
        double total = forward.Sum() + backward.Sum() + update.Sum();
        var result = new TrainingBenchmarkResult(steps * batch / total, forward.Average() * 1000, backward.Average() * 1000, update.Average() * 1000);
        return new Outcome(result, root.GetProperty("torch").GetString() ?? "?", root.GetProperty("threads").GetInt32(), root.GetProperty("parameters").GetInt64());
    }
}
