// Suite "fusion": batch-1 224x224 latency of a ParNet (default ParNet-S, random weights, eval, no grad):
//  1. unfused (training form), sequential forward
//  2. fused (ParNetFuser), sequential forward
//  3. fused, streams run concurrently by StreamParallelExecutor, with the default thread split (threads per
//     stream: cores / streams, >= 1) and the alternatives: every stream worker using all cores (oversubscribed),
//     and workers left at libtorch's own per-thread default (threadsPerStream 0)
// Each: warm-up runs, then N timed runs; median / min / max in ms, and ratios of medians to the unfused one.
// Intra-op threads: torch.set_num_threads(cores) for 1 and 2 (the executor sets its workers' own counts).
// Measured on the project's build machine: 2-core AMD EPYC (Zen 4, AVX-512), Debian 12, .NET 10,
// TorchSharp-cpu 0.107 (libtorch 2.10). The machine is shared and noisy: compare ratios from one run.
// Run: dotnet run -c Release --project bench/ParNet.Bench -- fusion [--model parnet_s] [--image-size 224] [--runs 20] [--warmup 5]
using System.CommandLine;
using ParNet.Benchmarking;
using ParNet.Fusion;
using ParNet.Inference;
using ParNet.Models;
using static TorchSharp.torch;

namespace ParNet.Bench;

public sealed class FusionBenchmark : IBenchmark
{
    readonly Option<string> _model = SuiteOption.Model();
    readonly Option<int> _runs = SuiteOption.PositiveInt("--runs", 20, "timed runs per form (20: a stable median on a noisy 2-core machine)");
    readonly Option<int> _warmup = SuiteOption.PositiveInt("--warmup", 5, "untimed runs first (5: allocator and oneDNN caches settle)");
    readonly Option<int> _imageSize = SuiteOption.PositiveInt("--image-size", 224, "input side (224: the paper's ImageNet latency setting)");

    public Command Build()
    {
        var command = new Command("fusion", "batch-1 latency: unfused, fused and stream-parallel forms of a ParNet (random weights)")
            .WithOptions(_model, _runs, _warmup, _imageSize);
        command.SetAction(parse => Run(parse.GetValue(_model)!, parse.GetValue(_runs), parse.GetValue(_warmup), parse.GetValue(_imageSize)));
        return command;
    }

    static int Run(string model, int runs, int warmup, int size)
    {
        int cores = Environment.ProcessorCount;
        set_num_threads(cores);
        Console.WriteLine($"fusion benchmark: {model}, batch 1, {size}x{size}, fp32, {SuiteOption.Machine()}, " +
                          $".NET {Environment.Version}, intra-op threads {get_num_threads()}, {warmup} warm-up + {runs} timed runs");

        using var noGrad = no_grad();
        using var trained = (ParNetModel)ModelRegistry.Create(model);
        trained.eval();
        using var fused = ParNetFuser.Fuse(trained);
        var executor = new StreamParallelExecutor(fused);
        manual_seed(0);
        using var x = randn(1, 3, size, size);
        var oversubscribed = new StreamParallelExecutor(fused, threadsPerStream: cores);
        var untouched = new StreamParallelExecutor(fused, threadsPerStream: 0);

        var rows = new List<(string Name, TimingStats Stats)>
        {
            ("unfused, sequential", Time(() => trained.call(x), warmup, runs)),
            ("fused, sequential", Time(() => fused.call(x), warmup, runs)),
            ($"fused, stream-parallel ({executor.ThreadsPerStream} thread(s)/stream, default)", Time(() => executor.Forward(x), warmup, runs)),
            ($"fused, stream-parallel ({cores} threads/stream, oversubscribed)", Time(() => oversubscribed.Forward(x), warmup, runs)),
            ("fused, stream-parallel (workers' thread counts left alone)", Time(() => untouched.Forward(x), warmup, runs)),
        };
        double baseline = rows[0].Stats.Median;
        Console.WriteLine("| form | median ms | min ms | max ms | unfused / this |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var (name, t) in rows)
            Console.WriteLine($"| {name} | {t.Median * 1e3:F1} | {t.Min * 1e3:F1} | {t.Max * 1e3:F1} | {baseline / t.Median:F2}x |");
        return 0;
    }

    static TimingStats Time(Func<Tensor> forward, int warmup, int runs) => TimingStats.Measure(() => forward().Dispose(), warmup, runs);
}
