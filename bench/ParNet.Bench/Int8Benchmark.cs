// Suite "int8": batch-1 latency of a fused ParNet (default ParNet-S at 224, random weights) in ONNX Runtime, float32
// against the int8 QDQ export (`parnet export --int8`; here calibrated on noise: the kernels' speed does not depend
// on the ranges), measured INTERLEAVED: each round times one float32 and one int8 run back to back (alternating which
// goes first), so load that drifts on a shared machine hits both alike; the median of the per-round ratios is the
// robust number. Also prints the node types ONNX Runtime runs after optimization (QLinearConv: the int8 kernel).
// With --profile N, both models then run N more times under ONNX Runtime's profiler, and the kernel time per run is printed
// by operator type (where int8's time goes: its QLinearConv against the Transposes and Q/DQ around it).
// Run: dotnet run -c Release --project bench/ParNet.Bench -- int8 [--model parnet_s] [--image-size 224] [--runs 30] [--threads 2] [--profile 40]
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
    readonly Option<int> _runs = SuiteOption.PositiveInt("--runs", 30, "timed rounds (one float32 and one int8 run each; 30: a stable median on a noisy 2-core machine)");
    readonly Option<int> _warmup = SuiteOption.PositiveInt("--warmup", 5, "untimed rounds first (5: ONNX Runtime's arenas and caches settle)");
    readonly Option<int> _imageSize = SuiteOption.PositiveInt("--image-size", 224, "input side (224: the paper's ImageNet latency setting)");
    readonly Option<int> _threads = SuiteOption.PositiveInt("--threads", Environment.ProcessorCount, "ONNX Runtime intra-op threads (default: the logical cores)");
    readonly Option<int> _profile = SuiteOption.CountOrNone("--profile", "then N profiled runs of each model: kernel time per operator type (default: none)");

    public Command Build()
    {
        var command = new Command("int8", "batch-1 latency: fused float32 vs int8 (QDQ) in ONNX Runtime, interleaved rounds (random weights)")
            .WithOptions(_model, _runs, _warmup, _imageSize, _threads, _profile);
        command.SetAction(parse => Run(parse.GetValue(_model)!, parse.GetValue(_runs), parse.GetValue(_warmup), parse.GetValue(_imageSize), parse.GetValue(_threads),
                                       parse.GetValue(_profile)));
        return command;
    }

    static int Run(string modelName, int runs, int warmup, int size, int threads, int profileRuns)
    {
        Console.WriteLine($"int8 benchmark: {modelName} fused, batch 1, {size}x{size}, ONNX Runtime, {SuiteOption.Machine()}, {threads} intra-op threads, {warmup} warm-up + {runs} " +
                          $"interleaved rounds; {InferenceBenchmark.MachineDescription()}; load {File.ReadAllText("/proc/loadavg").Trim()}");
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
        var (tFp32, tInt8, ratios) = (new List<double>(), new List<double>(), new List<double>());
        var clock = new System.Diagnostics.Stopwatch();
        double Once(OnnxRuntimeEngine engine)
        {
            clock.Restart();
            engine.Run(input, shape);
            return clock.Elapsed.TotalSeconds;
        }
        for (int round = 0; round < warmup + runs; round++)
        {
            double a, b;
            if (round % 2 == 0) { a = Once(fp32); b = Once(int8); }
            else { b = Once(int8); a = Once(fp32); }
            if (round < warmup) continue;
            tFp32.Add(a);
            tInt8.Add(b);
            ratios.Add(a / b);
        }
        var (s32, s8, r) = (TimingStats.Of(tFp32), TimingStats.Of(tInt8), TimingStats.Of(ratios));
        Console.WriteLine("| engine | median ms | min ms | max ms |");
        Console.WriteLine("|---|---:|---:|---:|");
        Console.WriteLine($"| float32, ONNX Runtime | {s32.Median * 1e3:F1} | {s32.Min * 1e3:F1} | {s32.Max * 1e3:F1} |");
        Console.WriteLine($"| int8 QDQ, ONNX Runtime | {s8.Median * 1e3:F1} | {s8.Min * 1e3:F1} | {s8.Max * 1e3:F1} |");
        Console.WriteLine($"float32 / int8 per round: median {r.Median:F2}x (min {r.Min:F2}x, max {r.Max:F2}x); ratio of medians {s32.Median / s8.Median:F2}x; " +
                          $"ratio of minima {s32.Min / s8.Min:F2}x; load after {File.ReadAllText("/proc/loadavg").Trim()}");
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
