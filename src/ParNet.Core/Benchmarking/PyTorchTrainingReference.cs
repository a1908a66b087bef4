using ParNet.Models;
using ParNet.Runtime;

namespace ParNet.Benchmarking;

/// <summary>
/// The peer of `parnet train-bench`: bench/pytorch/pytorch_train_reference.py (embedded) times training steps of the
/// same network assembled from the authors' released blocks on PyTorch, with the same batch, size, steps, warm-up,
/// threads and layout, in a child process that takes turns with our steps (<see cref="Compare"/>). Its parameter count
/// must equal ours, or it is not the same network and no ratio is given. With bfloat16 (ours: bfloat16 weights, float32
/// BatchNorm and master weights) the authors' steps run under PyTorch's own mixed precision (torch.autocast), and their
/// float32 steps are timed in the same rounds too, since on PyTorch 1.13 autocast is slower than float32 on a CPU
/// (RESULTS.md): a ratio against their faster precision is the one that says what bfloat16 gains a user.
/// </summary>
public static class PyTorchTrainingReference
{
    public sealed record Outcome(TrainingBenchmarkResult Result, string TorchVersion, int Threads, long Parameters);

    /// <summary>
    /// One round of <see cref="Compare"/>: our steps and the authors' in our precision, timed back to back, and with
    /// bfloat16 their float32 steps too (<see cref="TheirsFloat32"/>, else null; before or after their bf16 steps by turns).
    /// </summary>
    public sealed record Round(int Index, bool OursFirst, TrainingBenchmarkResult Ours, Outcome Theirs, TrainingBenchmarkResult? TheirsFloat32 = null)
    {
        /// <summary>Ours against theirs in the same precision.</summary>
        public double Ratio => Ours.ImagesPerSecond / Theirs.Result.ImagesPerSecond;

        /// <summary>Ours against the faster of their precisions (<see cref="Ratio"/> when only float32 was timed).</summary>
        public double RatioToTheirFastest => Ours.ImagesPerSecond / Math.Max(Theirs.Result.ImagesPerSecond, TheirsFloat32?.ImagesPerSecond ?? 0);
    }

    /// <summary>Null when the script can build the model; otherwise why not.</summary>
    public static string? WhyUnsupported(ModelConfig c) =>
        c.Layout != Layout.Cifar || c.BlockType != BlockType.RepVggSse || c.Streams != 3
            ? $"{c.Name}: the PyTorch training reference builds the CIFAR layout with 3 streams of RepVGG-SSE blocks (the fashion-mnist network)"
            : c.BlockDropout > 0 || c.HeadDropout > 0 ? $"{c.Name}: the PyTorch training reference has no dropout" : null;

    /// <summary>ArgumentException (<see cref="InvalidSettingException"/> where a setting is to blame) for what
    /// <see cref="Compare"/> cannot compare: no authors' code, forward passes only, a network the script cannot build, no
    /// rounds, several processes. A front end calls it while setting up, with <see cref="PyTorchReferenceOptions.RequireUsable"/>.</summary>
    public static void RequireComparable(PyTorchReferenceOptions p, TrainingBenchmarkOptions o, int rounds)
    {
        if (p.AuthorsCode is null) throw PyTorchReference.NeedsAuthorsCode("PyTorch reference: it needs the authors' code");
        string forwardOnly = SettingNames.Of(nameof(TrainingBenchmarkOptions), nameof(TrainingBenchmarkOptions.ForwardOnly));
        if (o.ForwardOnly) throw new InvalidSettingException(forwardOnly, names => $"PyTorch reference: it times training steps (not with {names.Name(forwardOnly)})");
        if (WhyUnsupported(o.Model) is string why) throw new ArgumentException($"PyTorch reference: {why}");
        if (rounds < 1) throw new ArgumentException($"rounds must be >= 1; got {rounds}");
        if (o.Processes.Size > 1) throw new ArgumentException($"PyTorch reference: it compares one process with one process; got {o.Processes.Size} processes");
    }

    /// <summary>
    /// Our steps (<see cref="TrainingSteps"/>, at the caller's torch threads) against the authors' in one child process,
    /// both warmed up once, then <paramref name="rounds"/> rounds of <see cref="TrainingBenchmarkOptions.Steps"/> steps
    /// each, who goes first alternating (ours in round 1), so that a machine whose speed drifts is compared round by
    /// round: on a shared 2-core VM separate runs a minute apart read 1.40-1.81x (Zen 5, 2026-12-03), and a round that
    /// restarted both sides was 10 s long, long enough for our own rate to halve inside it. The median of the per-round
    /// ratios is the number to quote.
    /// </summary>
    public static IReadOnlyList<Round> Compare(PyTorchReferenceOptions p, TrainingBenchmarkOptions o, int threads, int rounds, Action<Round>? onRound = null)
    {
        p.RequirePython();
        RequireComparable(p, o, rounds);

        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        using var ours = new TrainingSteps(o);
        // their side does the same work as ours: 50 times our time for it is a generous wait too, where the steps are many
        TimeSpan Deadline(TimeSpan ourTime) => TimeSpan.FromTicks(Math.Max(p.AnswerDeadline.Ticks, 50 * ourTime.Ticks));
        var ourWarmup = System.Diagnostics.Stopwatch.GetElapsedTime(start);
        var c = o.Model;
        string folder = PyTorchReference.WriteScripts();
        string[] args =
        [
            Path.Combine(folder, "pytorch_train_reference.py"), "--serve", "--code", p.AuthorsCode!,   // RequireComparable refused none
            "--planes", string.Join(",", c.Planes), "--blocks", string.Join(",", c.BlocksPerStream), "--final-width", $"{c.FinalWidth}",
            "--in-channels", $"{c.InChannels}", "--classes", $"{c.NumClasses}",
            "--activation", c.Activation == ActivationKind.SiLU ? "silu" : "relu", "--sse", c.UseSse ? "true" : "false",
            "--image-size", $"{o.ImageSize}", "--batch", $"{o.Batch}", "--steps", $"{o.Steps}", "--warmup", $"{o.Warmup}",
            "--threads", $"{threads}", "--channels-last", o.ChannelsLast ? "true" : "false", .. (o.BFloat16 ? ["--bf16"] : Array.Empty<string>()),
        ];
        using var child = new LineProtocolChild(p.Python, args, folder, p.AnswerDeadline);
        var (version, childThreads, parameters) = ParseHeader(child, child.ReadLine("its warm-up steps", Deadline(ourWarmup)));
        if (parameters != ours.Parameters)
            throw new InvalidOperationException($"PyTorch reference: its network has {parameters:N0} parameters, ours {ours.Parameters:N0}: " +
                                                "not the same network, so no comparison");

        var done = new List<Round>();
        for (int i = 0; i < rounds; i++)
        {
            bool oursFirst = i % 2 == 0;
            TrainingBenchmarkResult? mine = oursFirst ? ours.Time(o.Steps) : null;
            // with bf16 their two precisions take turns too, float32 first in the rounds where ours goes first
            var ourSteps = TimeSpan.FromSeconds(o.Steps * o.Batch / (mine ?? done[^1].Ours).ImagesPerSecond);   // ours went first in round 1
            TrainingBenchmarkResult Theirs(string precision) => ParseSteps(child, child.Ask($"steps {o.Steps} {precision}", Deadline(ourSteps)), o.Steps, o.Batch);
            var theirsFloat32 = o.BFloat16 && oursFirst ? Theirs("fp32") : null;
            var theirs = Theirs(o.BFloat16 ? "bf16" : "fp32");
            if (o.BFloat16) theirsFloat32 ??= Theirs("fp32");
            mine ??= ours.Time(o.Steps);
            var round = new Round(i + 1, oursFirst, mine, new Outcome(theirs, version, childThreads, parameters), theirsFloat32);
            done.Add(round);
            onRound?.Invoke(round);
        }
        return done;
    }


    static (string Torch, int Threads, long Parameters) ParseHeader(LineProtocolChild child, string line) =>
        child.ParseJson(line, "its warm-up steps", root =>
            (root.GetProperty("torch").GetString() ?? "?", root.GetProperty("threads").GetInt32(), root.GetProperty("parameters").GetInt64()));

    /// <summary>The child's per-step seconds, turned into the same means as <see cref="TrainingSteps.Time"/>.</summary>
    static TrainingBenchmarkResult ParseSteps(LineProtocolChild child, string line, int steps, int batch)
    {
        var (forward, backward, update) = child.ParseJson(line, "steps", root =>
        {
            double[] Seconds(string name) => root.GetProperty(name).EnumerateArray().Select(e => e.GetDouble()).ToArray();
            return (Seconds("forward_s"), Seconds("backward_s"), Seconds("update_s"));
        });
        if (forward.Length != steps || backward.Length != steps || update.Length != steps)
            throw child.Failure($"it answered {forward.Length} / {backward.Length} / {update.Length} forward / backward / update timings for {steps} steps");
        double total = forward.Sum() + backward.Sum() + update.Sum();
        return new TrainingBenchmarkResult(steps * batch / total, forward.Average() * 1000, backward.Average() * 1000, update.Average() * 1000);
    }
}
