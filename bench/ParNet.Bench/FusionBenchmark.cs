// Suite "fusion": batch-1 224x224 latency of a ParNet (default ParNet-S, random weights, eval, no grad):
//  1. unfused (training form), sequential forward
//  2. fused (ParNetFuser), sequential forward; both also with channels_last weights and input
//  3. fused, streams run concurrently by StreamParallelExecutor, with the default thread split (threads per
//     stream: cores / streams, >= 1) and the alternatives: every stream worker using all cores (oversubscribed),
//     and workers left at libtorch's own per-thread default (threadsPerStream 0)
// Measured INTERLEAVED (TimingStats.MeasureInterleaved): each round runs every form once, the first form rotating, so
// a machine whose speed drifts (a shared VM: 1.2-1.6x within minutes) slows all forms alike; per form median / min / max
// in ms, and against the unfused form both the ratio of medians and the median of the per-round ratios (the robust one).
// Intra-op threads: torch.set_num_threads(cores) for 1 and 2 (the executor sets its workers' own counts).
// Run: dotnet run -c Release --project bench/ParNet.Bench -- fusion [--model parnet_s] [--image-size 224] [--rounds 20] [--warmup 5]
using System.CommandLine;
using ParNet.Benchmarking;
using ParNet.Fusion;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Runtime;
using static TorchSharp.torch;

namespace ParNet.Bench;

public sealed class FusionBenchmark : IBenchmark
{
    readonly Option<string> _model = SuiteOption.Model();
    readonly Option<int> _rounds = SuiteOption.WithAlias(SuiteOption.PositiveInt("--rounds", 20, "timed rounds, one run of every form each (20: a stable median on a noisy 2-core machine)"), "--runs");   // "rounds" as bench and train-bench; --runs before
    readonly Option<int> _warmup = SuiteOption.PositiveInt("--warmup", 5, "untimed rounds first (5: allocator and oneDNN caches settle)");
    readonly Option<int> _imageSize = SuiteOption.PositiveInt("--image-size", 224, "input side (224: the paper's ImageNet latency setting)");

    public Command Build()
    {
        var command = new Command("fusion", "batch-1 latency: unfused, fused and stream-parallel forms of a ParNet (random weights)")
            .WithOptions(_model, _rounds, _warmup, _imageSize);
        command.SetAction(parse => Run(parse.GetValue(_model)!, parse.GetValue(_rounds), parse.GetValue(_warmup), parse.GetValue(_imageSize)));
        return command;
    }

    static int Run(string model, int rounds, int warmup, int size)
    {
        int cores = Environment.ProcessorCount;
        set_num_threads(cores);
        Console.WriteLine($"fusion benchmark: {model}, batch 1, {size}x{size}, fp32, {SuiteOption.Machine()}, " +
                          $".NET {Environment.Version}, intra-op threads {get_num_threads()}, {warmup} warm-up + {rounds} timed interleaved rounds; " +
                          $"load {File.ReadAllText("/proc/loadavg").Trim()}");

        using var noGrad = no_grad();
        using var trained = (ParNetModel)ModelRegistry.Create(model);
        trained.eval();
        using var fused = ParNetFuser.Fuse(trained);
        var executor = new StreamParallelExecutor(fused);
        manual_seed(0);
        using var x = randn(1, 3, size, size);
        var oversubscribed = new StreamParallelExecutor(fused, threadsPerStream: cores);
        var untouched = new StreamParallelExecutor(fused, threadsPerStream: 0);
        // the same forms with channels_last weights and input (oneDNN's NHWC kernels, no reorder around each conv)
        using var trainedNhwc = (ParNetModel)ModelRegistry.Create(model);
        trainedNhwc.eval();
        using var fusedNhwc = ParNetFuser.Fuse(trainedNhwc);
        MemoryFormat.ToChannelsLast(trainedNhwc);
        MemoryFormat.ToChannelsLast(fusedNhwc);
        using var xNhwc = MemoryFormat.ToChannelsLast(x);

        var forms = new List<(string Name, Action Run)>
        {
            ("unfused, sequential", Scoped(() => trained.call(x))),
            ("fused, sequential", Scoped(() => fused.call(x))),
            ("unfused, sequential, channels_last", Scoped(() => trainedNhwc.call(xNhwc))),
            ("fused, sequential, channels_last", Scoped(() => fusedNhwc.call(xNhwc))),
            ($"fused, stream-parallel ({executor.ThreadsPerStream} thread(s)/stream, default)", Scoped(() => executor.Forward(x))),
            ($"fused, stream-parallel ({cores} threads/stream, oversubscribed)", Scoped(() => oversubscribed.Forward(x))),
            ("fused, stream-parallel (workers' thread counts left alone)", Scoped(() => untouched.Forward(x))),
        };
        var times = TimingStats.MeasureInterleaved(forms.Select(f => f.Run).ToList(), warmup, rounds);
        var unfused = TimingStats.Of(times[0]);
        Console.WriteLine("| form | median ms | min ms | max ms | unfused / this: ratio of medians | per round: median (min-max) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---|");
        for (int i = 0; i < forms.Count; i++)
        {
            var t = TimingStats.Of(times[i]);
            var perRound = TimingStats.Of(times[0].Zip(times[i], (u, f) => u / f).ToList());
            Console.WriteLine($"| {forms[i].Name} | {t.Median * 1e3:F1} | {t.Min * 1e3:F1} | {t.Max * 1e3:F1} | {unfused.Median / t.Median:F2}x | " +
                              $"{perRound.Median:F2}x ({perRound.Min:F2}-{perRound.Max:F2}x) |");
        }
        Console.WriteLine($"load after {File.ReadAllText("/proc/loadavg").Trim()}");
        return 0;
    }

    /// <summary>One timed forward in its own dispose scope: its intermediates are freed at once, not left to the GC (defect 6).</summary>
    static Action Scoped(Func<Tensor> forward) => () => { using var scope = NewDisposeScope(); forward(); };
}
