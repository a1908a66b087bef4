// Suite "int8": batch-1 latency of a fused ParNet (default ParNet-S at 224, random weights) in ONNX Runtime, float32
// against the int8 QDQ export (`parnet export --int8`; here calibrated on noise: the kernels' speed does not depend
// on the ranges), measured INTERLEAVED: each round gives each model one turn (alternating which goes first), so load
// that drifts on a shared machine hits both alike; the median of the per-round ratios is the robust number. A turn is
// two runs, both timed: the first ("cold") starts with the other model's weights in the caches (ParNet-S: 28 MB
// float32, 7 MB int8, against a 32 MB L3 on Zen 3), the second ("warm") with its own, as a model serving a stream of
// requests runs; both ratios are printed. Also prints the node types ONNX Runtime runs after optimization (QLinearConv: the int8 kernel).
// With --profile N, both models then run N more times under ONNX Runtime's profiler, and the kernel time per run is printed
// by operator type (where int8's time goes: its QLinearConv against the Transposes and Q/DQ around it).
// Run: dotnet run -c Release --project bench/ParNet.Bench -- int8 [--model parnet_s] [--image-size 224] [--rounds 30] [--threads 2] [--profile 40]
using System.CommandLine;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using ParNet.Benchmarking;
using ParNet.Export;
using ParNet.Export.Quantization;
using ParNet.Fusion;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Runtime;

namespace ParNet.Bench;

public sealed class Int8Benchmark : IBenchmark
{
    readonly Option<string> _model = SuiteOption.Model();
    readonly Option<int> _rounds = SuiteOption.WithAlias(SuiteOption.PositiveInt("--rounds", 30, "timed rounds (each a cold and a warm run of float32 and of int8; 30: a stable median on a noisy 2-core machine)"), "--runs");   // "rounds" as bench and train-bench; --runs before
    readonly Option<int> _warmup = SuiteOption.PositiveInt("--warmup", 5, "untimed rounds first (5: ONNX Runtime's arenas and caches settle)");
    readonly Option<int> _imageSize = SuiteOption.PositiveInt("--image-size", 224, "input side (224: the paper's ImageNet latency setting)");
    readonly Option<int> _threads = SuiteOption.PositiveInt("--threads", Environment.ProcessorCount, "ONNX Runtime intra-op threads (default: the logical cores)");
    readonly Option<int> _profile = SuiteOption.CountOrNone("--profile", "then N profiled runs of each model: kernel time per operator type (default: none)");

    public Command Build()
    {
        var command = new Command("int8", "batch-1 latency: fused float32 vs int8 (QDQ) in ONNX Runtime, interleaved rounds (random weights)")
            .WithOptions(_model, _rounds, _warmup, _imageSize, _threads, _profile);
        command.SetAction(parse => Run(parse.GetValue(_model)!, parse.GetValue(_rounds), parse.GetValue(_warmup), parse.GetValue(_imageSize), parse.GetValue(_threads),
                                       parse.GetValue(_profile)));
        return command;
    }

    static int Run(string modelName, int rounds, int warmup, int size, int threads, int profileRuns)
    {
        Console.WriteLine($"int8 benchmark: {modelName} fused, batch 1, {size}x{size}, ONNX Runtime, {threads} intra-op threads, {warmup} warm-up + {rounds} " +
                          $"interleaved rounds of a cold and a warm run per model; {InferenceBenchmark.MachineDescription()}; load {File.ReadAllText("/proc/loadavg").Trim()}");
        var config = ModelRegistry.Get(modelName);
        TorchSharp.torch.manual_seed(0);
        using var trained = ModelFactory.Create(config);
        trained.eval();
        using var fused = ParNetFuser.Fuse(trained);
        fused.eval();
        var fp32Bytes = OnnxExporter.ExportToBytes(fused, size);
        var int8Model = Int8Exporter.Build(fused, size, Int8Exporter.NoiseImages(config, size, 4), new Int8Options { CalibrationImages = 4 });
        PrintOptimizedNodes(int8Model.ToByteArray(), threads);

        var options = new OnnxRuntimeOptions { IntraOpThreads = threads };
        using var fp32 = new OnnxRuntimeEngine(fp32Bytes, options);
        using var int8 = new OnnxRuntimeEngine(int8Model.ToByteArray(), options);
        long[] shape = [1, config.InChannels, size, size];
        var input = Int8Exporter.NoiseImages(config, size, 1, seed: 2).Single().Data;
        string[] models = ["float32", "int8"], turns = ["cold", "warm"];
        var times = models.SelectMany(m => turns.Select(t => (Model: m, Turn: t))).ToDictionary(k => k, _ => new List<double>());
        var clock = new System.Diagnostics.Stopwatch();
        void Turn(string model, OnnxRuntimeEngine engine, bool timed)
        {
            foreach (var turn in turns)
            {
                clock.Restart();
                engine.Run(input, shape);
                if (timed) times[(model, turn)].Add(clock.Elapsed.TotalSeconds);
            }
        }
        for (int round = 0; round < warmup + rounds; round++)
        {
            bool timed = round >= warmup;
            if (round % 2 == 0) { Turn("float32", fp32, timed); Turn("int8", int8, timed); }
            else { Turn("int8", int8, timed); Turn("float32", fp32, timed); }
        }
        Console.WriteLine("| engine | run of its turn | median ms | min ms | max ms |");
        Console.WriteLine("|---|---|---:|---:|---:|");
        foreach (var turn in turns)
            foreach (var model in models)
            {
                var t = TimingStats.Of(times[(model, turn)]);
                Console.WriteLine($"| {model}, ONNX Runtime | {turn} | {t.Median * 1e3:F1} | {t.Min * 1e3:F1} | {t.Max * 1e3:F1} |");
            }
        foreach (var turn in turns)
        {
            var (a, b) = (times[("float32", turn)], times[("int8", turn)]);
            var (s32, s8, r) = (TimingStats.Of(a), TimingStats.Of(b), TimingStats.Of(a.Zip(b, (x, y) => x / y).ToList()));
            Console.WriteLine($"float32 / int8, {turn} runs, per round: median {r.Median:F2}x (min {r.Min:F2}x, max {r.Max:F2}x); ratio of medians {s32.Median / s8.Median:F2}x; " +
                              $"ratio of minima {s32.Min / s8.Min:F2}x");
        }
        Console.WriteLine($"load after {File.ReadAllText("/proc/loadavg").Trim()}");
        if (profileRuns > 0)
            foreach (var (name, model) in new[] { ("float32", fp32Bytes), ("int8", int8Model.ToByteArray()) })
                PrintProfile(name, model, options, input, shape, profileRuns);
        return 0;
    }

    /// <summary>Runs the model <paramref name="runs"/> times under ONNX Runtime's profiler and prints each operator type's kernel
    /// time per run (the profile's "*_kernel_time" events), largest first.</summary>
    static void PrintProfile(string name, byte[] model, OnnxRuntimeOptions options, float[] input, long[] shape, int runs)
    {
        string? file = null;
        try
        {
            using (var engine = new OnnxRuntimeEngine(model, options with { ProfilePrefix = Path.Combine(Path.GetTempPath(), $"parnet-int8-profile-{Environment.ProcessId}-{name}") }))
            {
                for (int i = 0; i < runs; i++) engine.Run(input, shape);
                file = engine.EndProfiling();
            }
            var kernels = JsonDocument.Parse(File.ReadAllText(file)).RootElement.EnumerateArray()
                .Where(e => e.GetProperty("cat").GetString() == "Node" && e.GetProperty("name").GetString()!.EndsWith("_kernel_time"))
                .GroupBy(e => e.GetProperty("args").GetProperty("op_name").GetString()!, e => e.GetProperty("dur").GetDouble() / runs / 1000)
                .Select(g => (Op: g.Key, Ms: g.Sum())).OrderByDescending(k => k.Ms).ToList();
            double total = kernels.Sum(k => k.Ms);
            Console.WriteLine($"{name}, {runs} profiled runs: kernel time {total:F1} ms per run");
            foreach (var (op, ms) in kernels) Console.WriteLine($"  {op,-22} {ms,7:F2} ms {100 * ms / total,6:F1}%");
        }
        finally { if (file is not null) File.Delete(file); }
    }

    /// <summary>The node types of the graph ONNX Runtime actually runs (its optimized model, written to a temporary file).</summary>
    static void PrintOptimizedNodes(byte[] model, int threads)
    {
        string path = Path.Combine(Path.GetTempPath(), $"parnet-int8-optimized-{Environment.ProcessId}.onnx");
        try
        {
            using (var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, OptimizedModelFilePath = path, IntraOpNumThreads = threads })
            using (new InferenceSession(model, options)) { }
            var optimized = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
            Console.WriteLine("optimized int8 graph: " + string.Join(", ", optimized.Graph.Node.GroupBy(n => n.OpType).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count()}")));
        }
        finally { File.Delete(path); }
    }
}
