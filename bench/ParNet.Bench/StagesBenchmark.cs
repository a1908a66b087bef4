// Suite "stages": where the batch-1 time of a fused ParNet goes. Times each stage of the fused model on its own
// (inits.i, streams.i, downsamples_2.i, combine, head; inputs precomputed), then the whole forward, at batch 1,
// 224x224, fp32, eval, inference_mode; median of N runs after warm-up. The stages' sum vs the whole shows the
// per-forward overhead; each stage against the same stage of the authors' code on PyTorch 1.13
// (`/usr/bin/python3 bench/pytorch/pytorch_reference.py --code DIR --stages --repeats 30 --warmup 5`) shows which layers are slower in libtorch 2.10.
// Machine: the project's 2-core AMD EPYC (Zen 4), Debian 12, TorchSharp-cpu 0.107; shared and noisy.
// Run: dotnet run -c Release --project bench/ParNet.Bench -- stages [--model parnet_s] [--repeats 30] [--warmup 5] [--threads N] [--onednn on|off]
using System.CommandLine;
using ParNet.Benchmarking;
using ParNet.Fusion;
using ParNet.Models;
using ParNet.Models.Blocks;
using static TorchSharp.torch;
using ParNet.Runtime;

namespace ParNet.Bench;

public sealed class StagesBenchmark : IBenchmark
{
    readonly Option<string> _model = SuiteOption.Model();
    readonly Option<int> _repeats = SuiteOption.WithAlias(SuiteOption.PositiveInt("--repeats", 30, "timed runs per stage, one after another (30: stages are short, medians need more runs)"), "--runs");   // "repeats": consecutive runs of one thing, as TimingStats; --runs before
    readonly Option<int> _warmup = SuiteOption.PositiveInt("--warmup", 5, "untimed runs first (5: allocator and oneDNN caches settle)");
    readonly Option<int> _threads = SuiteOption.PositiveInt("--threads", Environment.ProcessorCount, "intra-op threads (default: the logical cores)");
    readonly Option<string> _oneDnn = new Option<string>("--onednn")
    {
        Description = "on or off: libtorch's oneDNN convolutions (on: libtorch's default)", HelpName = "on|off", DefaultValueFactory = _ => "on",
    }.AcceptOnlyFromAmong("on", "off");

    public Command Build()
    {
        var command = new Command("stages", "where the batch-1 time of a fused ParNet goes, stage by stage")
            .WithOptions(_model, _repeats, _warmup, _threads, _oneDnn);
        command.SetAction(parse => Run(parse.GetValue(_model)!, parse.GetValue(_repeats), parse.GetValue(_warmup), parse.GetValue(_threads), parse.GetValue(_oneDnn)!));
        return command;
    }

    static int Run(string model, int runs, int warmup, int threads, string oneDnn)
    {
        set_num_threads(threads);
        LibTorchWorkarounds.OneDnnEnabled = oneDnn != "off";
        Console.WriteLine($"stages benchmark: {model} fused, batch 1, 224x224, fp32, {SuiteOption.Machine()}, {get_num_threads()} intra-op threads, " +
                          $"oneDNN {(LibTorchWorkarounds.OneDnnEnabled ? "on" : "off")}, {warmup} warm-up + {runs} runs");

        using var mode = inference_mode(true);
        using var trained = (ParNetModel)ModelRegistry.Create(model);
        trained.eval();
        using var fused = ParNetFuser.Fuse(trained);
        Console.WriteLine($"trained needs oneDNN off: {trained.NeedsOneDnnOff} ({trained.OneDnnOffReason}); fused: {fused.NeedsOneDnnOff} ({fused.OneDnnOffReason})");
        manual_seed(0);
        using var x = randn(1, 3, 224, 224);
        var inputs = fused.StreamInputs(x);
        var outputs = inputs.Select((input, i) => fused.RunStream(i, input)).ToArray();

        var rows = new List<(string Name, double Ms)>();
        Tensor previous = x;
        for (int i = 0; i < fused.Streams; i++)
        {
            var input = previous;
            int s = i;
            rows.Add(($"inits.{i}", Median(() => fused.RunInit(s, input), warmup, runs)));
            previous = inputs[i];
        }
        for (int i = 0; i < fused.Streams; i++)
        {
            int s = i;
            rows.Add(($"streams.{i}", Median(() => fused.RunStream(s, inputs[s]), warmup, runs)));
        }
        rows.Add(("downsamples_2 + combine", Median(() => fused.MergeStreams(outputs), warmup, runs)));
        using var features = fused.MergeStreams(outputs);
        rows.Add(("head", Median(() => fused.forward_head(features), warmup, runs)));
        double sum = rows.Sum(r => r.Ms);
        double whole = Median(() => fused.call(x), warmup, runs);

        Console.WriteLine("| stage | median ms |");
        Console.WriteLine("|---|---:|");
        foreach (var (name, ms) in rows) Console.WriteLine($"| {name} | {ms:F2} |");
        Console.WriteLine($"| sum of stages | {sum:F2} |");
        Console.WriteLine($"| whole forward | {whole:F2} |");
        return 0;
    }

    static double Median(Func<Tensor> forward, int warmup, int runs) =>
        TimingStats.Measure(() => { using var scope = NewDisposeScope(); forward(); }, warmup, runs).Median * 1e3;
}
