using System.Diagnostics;
using static TorchSharp.torch;

namespace ParNet.Benchmarking;

/// <summary>Wall-clock times of repeated runs (seconds), summarized robustly: the median is what we compare.</summary>
public sealed record TimingStats(double Median, double Min, double Max, int Runs)
{
    public static TimingStats Of(IReadOnlyList<double> seconds)
    {
        if (seconds.Count == 0) throw new ArgumentException("no runs");
        var sorted = seconds.OrderBy(s => s).ToArray();
        int n = sorted.Length;
        double median = n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
        return new TimingStats(median, sorted[0], sorted[^1], n);
    }

    /// <summary>Runs <paramref name="run"/> <paramref name="warmup"/> times untimed, then <paramref name="repeats"/> times timed.</summary>
    public static TimingStats Measure(Action run, int warmup, int repeats)
    {
        if (repeats < 1) throw new ArgumentException($"repeats must be >= 1; got {repeats}");
        for (int i = 0; i < warmup; i++) run();
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++) times[i] = Seconds(run);
        return Of(times);
    }

    /// <summary>Times several runs against each other on a machine whose speed drifts (a shared VM): each round runs every
    /// one once, round r starting with run r mod n and going on in order, so load that comes and goes hits each alike and
    /// no run always follows the same neighbour. <paramref name="warmup"/> untimed rounds first. With
    /// <paramref name="untimedBefore"/> > 0 each timed run follows that many untimed runs of the same one, so it finds
    /// its own weights in the caches and its thread pool awake, as in a process that runs one model (with 0 it follows
    /// another's run: a cold run). Returns each run's seconds, one per timed round: compare them round by round (the
    /// median of the per-round ratios is the robust number).</summary>
    public static double[][] MeasureInterleaved(IReadOnlyList<Action> runs, int warmup, int rounds, int untimedBefore = 0) =>
        MeasureInterleavedSelfTimed(runs.Select(run => (Func<double>)(() => Seconds(run))).ToList(), warmup, rounds, untimedBefore);

    /// <summary><see cref="MeasureInterleaved"/> for runs that report their own seconds (a run in another process, timed
    /// there, so that the round trip to it is not counted). <paramref name="afterRound"/> hears the index of each round
    /// done, warm-up rounds first (from 0), for progress.</summary>
    public static double[][] MeasureInterleavedSelfTimed(IReadOnlyList<Func<double>> runs, int warmup, int rounds, int untimedBefore = 0,
                                                         Action<int>? afterRound = null)
    {
        if (runs.Count == 0) throw new ArgumentException("no runs to time");
        if (rounds < 1) throw new ArgumentException($"rounds must be >= 1; got {rounds}");
        if (warmup < 0 || untimedBefore < 0) throw new ArgumentException($"warmup and untimed runs must be >= 0; got {warmup}, {untimedBefore}");
        int n = runs.Count;
        var times = runs.Select(_ => new double[rounds]).ToArray();
        for (int round = 0; round < warmup + rounds; round++)
        {
            for (int k = 0; k < n; k++)
            {
                int i = (round + k) % n;
                for (int u = 0; round >= warmup && u < untimedBefore; u++) runs[i]();
                double seconds = runs[i]();
                if (round >= warmup) times[i][round - warmup] = seconds;
            }
            afterRound?.Invoke(round);
        }
        return times;
    }

    /// <summary>Wall-clock seconds of one call.</summary>
    public static double Seconds(Action run)
    {
        long start = Stopwatch.GetTimestamp();
        run();
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }
}

/// <summary>A reference rate of this machine: a square float32 matmul through libtorch (oneDNN/MKL GEMM). Not a peak: ONNX
/// Runtime's convolutions, int8 and stream-parallel rows outrun it at one thread (119-376%, audit of session 36).</summary>
public static class MatmulPeak
{
    /// <summary>2 n^3 / time of the fastest of <paramref name="repeats"/> runs, in GFLOP/s.</summary>
    public static (double GflopsBest, double GflopsMedian) Measure(int n = 2048, int warmup = 2, int repeats = 5)
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode(true);
        // seeded matrices; the caller's random sequence left as it was (a library audit of session 47)
        var (a, b) = Runtime.RandomState.Kept(() =>
        {
            manual_seed(0);
            return (randn(n, n), randn(n, n));
        });
        var stats = TimingStats.Measure(() => { using var c = a.matmul(b); }, warmup, repeats);
        double flop = 2.0 * n * n * (double)n;
        return (flop / stats.Min / 1e9, flop / stats.Median / 1e9);
    }
}
