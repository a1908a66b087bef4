// Suite "onnx-cuda": the paper's Table 3 (one GPU; a stream per GPU) with ParNet for .NET's ONNX Runtime engines, on a
// machine that has a GPU but neither libtorch nor room for the exported weights (this project's lent GPU machines: no
// .NET, no network, 64 MiB of files per call; scripts/gpu-device.sh). Two halves:
//  --write-graphs (here, with TorchSharp): fused ParNet-S/M/L/XL at 224 exported as the whole graph and as the stream
//    partition (entry, one graph per stream, merge), the conv and Gemm weights' data dropped (shapes kept): ~0.3 MB, not ~800 MB;
//  the run (there, without libtorch): those weights refilled from a seed of their names (the same values in the whole
//    graph and in the parts: N(0, 2/fan-in), the He scale, so activations stay finite), then batch-1 latency of
//      cpu            the whole graph, ONNX Runtime on the CPU (all cores)
//      cpu-streams    the partition on the CPU, the streams' sessions at once, cores shared out
//      cuda           the whole graph on CUDA device 0 (OnnxRuntimeEngine; input from and logits back to the host)
//      cuda-graph     the same recorded once as a CUDA graph and replayed (OnnxCudaGraphEngine; input and logits through host memory too)
//      cuda-streams   the partition on CUDA device 0, each stream's session with its own CUDA stream (OnnxStreamParallelEngine;
//                     values between the parts stay on the device)
//      cuda-devices   the paper's Table 3 proper: stream i's session on CUDA device i mod --gpus, the entry and the merge on
//                     device 0 (values cross through host memory); run only when asked for and --gpus > 1
//    timed interleaved (TimingStats.MeasureInterleaved: each round runs every row once), and the logits of every row
//    compared with the cpu row's (relative L2; ONNX Runtime's CUDA convolutions may use TF32: ~1e-3).
// Random weights: the latency of a float32 network does not depend on its values (no sparsity; finite activations).
// Run: dotnet run -c Release --project bench/ParNet.Bench -- onnx-cuda --write-graphs --graphs DIR   (here)
//      ParNet.Bench onnx-cuda --graphs DIR [--rows cpu,cuda,cuda-streams] [--rounds 30]                   (a GPU build, there)
using System.CommandLine;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using ParNet.Benchmarking;
using ParNet.Export;
using ParNet.Inference;

namespace ParNet.Bench;

public sealed class OnnxCudaBenchmark : IBenchmark
{
    static readonly string[] Rows = ["cpu", "cpu-streams", "cuda", "cuda-graph", "cuda-streams", "cuda-devices"];

    readonly Option<DirectoryInfo> _graphs = new("--graphs") { Description = "folder of the weightless graphs (written by --write-graphs, read by the run)", Required = true };
    readonly Option<bool> _write = new("--write-graphs") { Description = "export the graphs of --models into --graphs and stop (needs TorchSharp)" };
    readonly Option<string> _models = new("--models") { Description = "comma-separated ParNets (default: the paper's four)", DefaultValueFactory = _ => "parnet_s,parnet_m,parnet_l,parnet_xl" };
    readonly Option<string> _rows = new("--rows") { Description = $"comma-separated rows of {string.Join(", ", Rows)} (default all but cuda-devices)", DefaultValueFactory = _ => string.Join(",", Rows.SkipLast(1)) };
    readonly Option<int> _rounds = SuiteOption.WithAlias(SuiteOption.PositiveInt("--rounds", 30, "timed rounds, one run of every row each (30: GPU times at batch 1 spread little)"), "--runs");   // "rounds" as bench and train-bench; --runs before
    readonly Option<int> _warmup = SuiteOption.PositiveInt("--warmup", 5, "untimed rounds first (5: cuDNN picks its algorithms in the first runs)");
    readonly Option<int> _imageSize = SuiteOption.PositiveInt("--image-size", 224, "input side (224: the paper's latency setting)");
    readonly Option<int> _gpus = SuiteOption.PositiveInt("--gpus", 1, "CUDA devices for the cuda-devices row (stream i on device i mod N; 1: the row is not run)");

    public Command Build()
    {
        var command = new Command("onnx-cuda", "batch-1 latency of fused ParNets with ONNX Runtime on CUDA: whole graph and a session per stream (random weights)")
            .WithOptions(_graphs, _write, _models, _rows, _rounds, _warmup, _imageSize, _gpus);
        command.Validators.Add(r =>
        {
            // an option left out has no value yet while the command is validated: the default rows hold no cuda-devices
            if (r.GetValue(_rows)?.Split(',').Contains("cuda-devices") == true && r.GetValue(_gpus) < 2)
                r.AddError("--rows cuda-devices needs --gpus N with N >= 2 (one GPU is the cuda-streams row)");
        });
        _rows.Validators.Add(r =>
        {
            var bad = r.GetValueOrDefault<string>()!.Split(',').Where(k => !Rows.Contains(k)).ToArray();
            if (bad.Length > 0) r.AddError($"--rows: unknown {string.Join(", ", bad)} (rows: {string.Join(", ", Rows)})");
        });
        command.SetAction(parse =>
        {
            var dir = parse.GetValue(_graphs)!.FullName;
            var models = parse.GetValue(_models)!.Split(',');
            if (parse.GetValue(_write)) return WriteGraphs(dir, models, parse.GetValue(_imageSize));
            return Run(dir, models, parse.GetValue(_rows)!.Split(','), parse.GetValue(_rounds), parse.GetValue(_warmup), parse.GetValue(_imageSize), parse.GetValue(_gpus));
        });
        return command;
    }

    /// <summary>The weightless graphs of <paramref name="name"/>; missing ones are named with the command that writes them.</summary>
    static (ModelProto Whole, OnnxStreamPartition Partition) ReadGraphs(string dir, string name)
    {
        try { return WeightlessOnnx.Read(Path.Combine(dir, name)); }
        catch (FileNotFoundException e) { throw new FileNotFoundException($"{e.Message}; write them with onnx-cuda --write-graphs --graphs {dir}", e.FileName, e); }
    }

    static int WriteGraphs(string dir, string[] models, int size)
    {
        Directory.CreateDirectory(dir);
        using var noGrad = TorchSharp.torch.no_grad();
        foreach (var name in models)
        {
            using var trained = (ParNet.Models.ParNetModel)ParNet.Models.ModelRegistry.Create(name);
            trained.eval();
            using var fused = ParNet.Fusion.ParNetFuser.Fuse(trained);
            WeightlessOnnx.Write(Path.Combine(dir, name), OnnxExporter.BuildModel(fused, size, size), OnnxExporter.BuildStreamPartition(fused, size, size));
            Console.WriteLine($"{name}: graphs in {dir} ({Directory.GetFiles(dir, name + ".*").Sum(f => new FileInfo(f).Length) / 1024} KiB)");
        }
        return 0;
    }

    static int Run(string dir, string[] models, string[] rows, int rounds, int warmup, int size, int gpus)
    {
        int cores = Environment.ProcessorCount;
        Console.WriteLine($"onnx-cuda benchmark: fused ParNets, batch 1, {size}x{size}, float32, random weights; {SuiteOption.Machine()} (the cpu rows' CPU); ONNX Runtime " +
                          $"providers {string.Join(", ", OrtEnvironmentProviders())}; {warmup} warm-up + {rounds} timed interleaved rounds");
        if (rows.Any(r => r.StartsWith("cuda", StringComparison.Ordinal))) OnnxRuntimeOptions.CheckCuda(0);
        if (rows.Contains("cuda-devices")) for (int d = 1; d < gpus; d++) OnnxRuntimeOptions.CheckCuda(d);
        var table = new List<string>
        {
            "| model | row | median ms | min ms | max ms | cuda / this, per round: median | logits vs cpu: relative L2 |",
            "|---|---|---:|---:|---:|---:|---:|",
        };
        foreach (var name in models)
        {
            var (whole, partition) = ReadGraphs(dir, name);
            int streams = partition.Streams.Count;
            var engines = new List<(string Row, Func<float[], long[], (float[] Data, long[] Shape)> Run, IDisposable Owner)>();
            var input = new float[3 * size * size];
            var random = new Random(1);
            for (int i = 0; i < input.Length; i++) input[i] = (float)(random.NextDouble() * 2 - 1);
            long[] shape = [1, 3, size, size];
            var logits = new List<float[]>();
            foreach (var row in rows)
            {
                IDisposable? engine = null;
                try   // a row that cannot start (a node off the CUDA provider refuses a CUDA graph) is reported, not fatal
                {
                    engine = row switch
                    {
                        "cpu" => new OnnxRuntimeEngine(whole.ToByteArray(), new OnnxRuntimeOptions { IntraOpThreads = cores }),
                        "cpu-streams" => new OnnxStreamParallelEngine(partition, new OnnxRuntimeOptions { IntraOpThreads = cores },
                            _ => new OnnxRuntimeOptions { IntraOpThreads = Math.Max(1, cores / streams) }),
                        "cuda" => new OnnxRuntimeEngine(whole.ToByteArray(), new OnnxRuntimeOptions { CudaDevice = 0 }),
                        "cuda-graph" => new OnnxCudaGraphEngine(whole.ToByteArray(), shape),
                        "cuda-streams" => new OnnxStreamParallelEngine(partition, new OnnxRuntimeOptions { CudaDevice = 0 }, _ => new OnnxRuntimeOptions { CudaDevice = 0 }),
                        _ => new OnnxStreamParallelEngine(partition, new OnnxRuntimeOptions { CudaDevice = 0 }, i => new OnnxRuntimeOptions { CudaDevice = i % gpus }),
                    };
                    Func<float[], long[], (float[] Data, long[] Shape)> run = engine switch
                    {
                        OnnxRuntimeEngine e => e.Run,
                        OnnxCudaGraphEngine g => g.Run,
                        _ => ((OnnxStreamParallelEngine)engine).Run,
                    };
                    logits.Add(run(input, shape).Data);   // the first run (a CUDA graph is recorded here)
                    engines.Add((row, run, engine));
                }
                catch (Exception e) when (e is OnnxRuntimeException or InvalidOperationException or InvalidDataException or NotSupportedException)
                {
                    engine?.Dispose();
                    Console.WriteLine($"{name}: row {row} not run: {e.Message}");
                }
            }
            try
            {
                var times = TimingStats.MeasureInterleaved(engines.Select(e => (Action)(() => e.Run(input, shape))).ToList(), warmup, rounds);
                int reference = engines.FindIndex(e => e.Row == "cpu"), cuda = engines.FindIndex(e => e.Row == "cuda");
                for (int i = 0; i < engines.Count; i++)
                {
                    var t = TimingStats.Of(times[i]);
                    string ratio = cuda < 0 ? "-" : $"{TimingStats.Of(times[cuda].Zip(times[i], (c, r) => c / r).ToList()).Median:F2}x";
                    string error = reference < 0 ? "-" : $"{RelativeL2(logits[i], logits[reference]):0.0e+0}";
                    table.Add($"| {name} ({streams} streams) | {engines[i].Row} | {t.Median * 1e3:F2} | {t.Min * 1e3:F2} | {t.Max * 1e3:F2} | {ratio} | {error} |");
                }
                Console.WriteLine(string.Join("\n", table.TakeLast(engines.Count)));
            }
            finally
            {
                foreach (var e in engines) e.Owner.Dispose();
            }
        }
        Console.WriteLine();
        foreach (var line in table) Console.WriteLine(line);
        return 0;
    }

    static IEnumerable<string> OrtEnvironmentProviders() => OrtEnv.Instance().GetAvailableProviders();

    static double RelativeL2(float[] a, float[] b)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < a.Length; i++) (diff, norm) = (diff + (a[i] - (double)b[i]) * (a[i] - b[i]), norm + (double)b[i] * b[i]);
        return Math.Sqrt(diff / norm);
    }
}
