using TorchSharp;
using ParNet.Export;
using ParNet.Export.Quantization;
using ParNet.Fusion;
using ParNet.Inference;
using ParNet.Models;
using static TorchSharp.torch;
using ParNet.Models.Tracing;
using ParNet.Runtime;
using ParNet.Weights;

namespace ParNet.Benchmarking;

/// <summary>
/// Batch-1 latency and batch-N throughput of ParNet (unfused, fused, fused + stream-parallel, fused bfloat16, ONNX
/// Runtime sequential and parallel) and TorchVision's ResNet-18/34/50, in one process and one run, after warm-up;
/// median/min/max of repeated runs; GFLOP/s from the LayerGraph's multiply-adds against a 2048^3 float32 matmul
/// measured in the same run. TorchSharp runs in eval mode under torch.inference_mode() with set_num_threads(Threads).
/// </summary>
public static class InferenceBenchmark
{
    public static readonly IReadOnlyList<string> VariantKeys =
        ["unfused", "fused", "fused-channels-last", "fused-parallel", "fused-devices", "fused-bf16", "onnx-sequential", "onnx-parallel", "onnx-streams", "onnx-int8", "onnx-file", "onnx-cuda", "onnx-cuda-streams", "resnet18", "resnet34", "resnet50",
         .. PyTorchReference.Keys];

    /// <summary>Rows that need ONNX Runtime's CUDA execution provider (a build with -p:OnnxRuntimeGpu=true): run when asked
    /// for by name, or by default where the provider is present.</summary>
    public static readonly IReadOnlyList<string> CudaKeys = ["onnx-cuda", "onnx-cuda-streams"];

    /// <summary>Multiply-adds of TorchVision's ResNets at 224x224 (torchvision's model table; scale with area).</summary>
    static readonly Dictionary<string, double> ResNetGMacs224 = new() { ["resnet18"] = 1.814, ["resnet34"] = 3.664, ["resnet50"] = 4.089 };

    public static BenchmarkReport Run(InferenceBenchmarkOptions o, string command)
    {
        o.Validate();
        var started = DateTime.UtcNow;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string loadBefore = LoadAverage();
        int previousThreads = get_num_threads();
        set_num_threads(o.Threads);
        try
        {
            bool Wants(string key) => o.Only is null ? !CudaKeys.Contains(key) || OnnxRuntimeOptions.CudaAvailable : o.Only.Contains(key);
            var results = new List<BenchmarkResult>();
            var notes = new List<string>();
            double unfusedGflop = 0, fusedGflop = 0;
            var (trained, info) = LoadTrained(o);   // before any timing: fused weights are refused here
            o.Log?.Invoke("matmul 2048^3 float32 (peak reference)");
            var (peak, peakMedian) = MatmulPeak.Measure();

            var size = o.ImageSize;
            using (trained)
            {
                trained.eval();
                bool fusable = o.Model.BlockType == BlockType.RepVggSse;
                unfusedGflop = 2.0 * trained.Trace(size, size).MultiplyAdds() / 1e9;
                if (Wants("unfused"))
                    results.Add(TimeTorch(o, "unfused", $"{o.Model.Name} unfused", "TorchSharp", unfusedGflop, trained, ScalarType.Float32));

                if (fusable)
                {
                    using var fused = ParNetFuser.Fuse(trained);
                    fusedGflop = 2.0 * fused.Trace(size, size).MultiplyAdds() / 1e9;
                    if (Wants("fused"))
                        results.Add(TimeTorch(o, "fused", $"{o.Model.Name} fused", "TorchSharp", fusedGflop, fused, ScalarType.Float32));
                    if (Wants("fused-channels-last"))
                    {
                        using var nhwc = ParNetFuser.Fuse(trained);
                        MemoryFormat.ToChannelsLast(nhwc);
                        results.Add(Time(o, "fused-channels-last", $"{o.Model.Name} fused, channels_last", "TorchSharp", fusedGflop,
                            batch => TorchRunner(batch, o, ScalarType.Float32, x => nhwc.call(x), channelsLast: true),
                            "channels_last weights and input (oneDNN's NHWC kernels)"));
                    }
                    if (Wants("fused-parallel"))
                    {
                        var executor = new StreamParallelExecutor(fused);
                        results.Add(Time(o, "fused-parallel", $"{o.Model.Name} fused + stream-parallel", "TorchSharp", fusedGflop,
                            batch => TorchRunner(batch, o, ScalarType.Float32, x => executor.Forward(x)),
                            $"{fused.Streams} streams on worker threads, {executor.ThreadsPerStream} intra-op thread(s) each"));
                    }
                    if (o.StreamDevices is not null && Wants("fused-devices"))
                    {
                        using var placed = ParNetFuser.Fuse(trained);
                        var executor = new MultiDeviceStreamExecutor(placed, o.StreamDevices);
                        results.Add(Time(o, "fused-devices", $"{o.Model.Name} fused, one device per stream", "TorchSharp", fusedGflop,
                            batch => TorchRunner(batch, o, ScalarType.Float32, x => executor.Forward(x).cpu()),
                            $"streams on {string.Join(", ", o.StreamDevices)}; input from and logits back to the host (the copy-back synchronizes)"));
                    }
                    if (Wants("fused-bf16"))
                    {
                        using var bf16 = ParNetFuser.Fuse(trained);
                        bf16.to(ScalarType.BFloat16);
                        results.Add(TimeTorch(o, "fused-bf16", $"{o.Model.Name} fused bfloat16", "TorchSharp", fusedGflop, bf16, ScalarType.BFloat16));
                    }
                    if (Wants("onnx-sequential") || Wants("onnx-parallel"))
                    {
                        var bytes = OnnxExporter.ExportToBytes(fused, size);
                        foreach (bool parallel in new[] { false, true })
                        {
                            string key = parallel ? "onnx-parallel" : "onnx-sequential";
                            if (!Wants(key)) continue;
                            var options = new OnnxRuntimeOptions { IntraOpThreads = o.Threads, Parallel = parallel, InterOpThreads = parallel ? o.Model.Streams : 0 };
                            using var engine = new OnnxRuntimeEngine(bytes, options);
                            results.Add(Time(o, key, $"{o.Model.Name} fused, ONNX Runtime {(parallel ? "parallel" : "sequential")}", "ONNX Runtime", fusedGflop,
                                batch => OnnxRunner(engine.Run, batch, o),
                                parallel ? $"ORT_PARALLEL, {o.Model.Streams} inter-op threads, {o.Threads} intra-op" : $"ORT_SEQUENTIAL, {o.Threads} intra-op threads"));
                        }
                    }
                    if (Wants("onnx-streams") || Wants("onnx-cuda") || Wants("onnx-cuda-streams"))
                        results.AddRange(TimeOnnxStreams(o, fused, size, fusedGflop, Wants));
                    if (Wants("onnx-int8"))
                    {
                        // noise calibrates the ranges: the int8 kernels' speed does not depend on them (accuracy: `parnet eval` of an --int8 export)
                        const int calibration = 4;
                        var int8 = Int8Exporter.ExportToBytes(fused, size, Int8Exporter.NoiseImages(o.Model, size, calibration), new Int8Options { CalibrationImages = calibration });
                        using var engine = new OnnxRuntimeEngine(int8, new OnnxRuntimeOptions { IntraOpThreads = o.Threads });
                        results.Add(Time(o, "onnx-int8", $"{o.Model.Name} fused int8 (QDQ), ONNX Runtime sequential", "ONNX Runtime", fusedGflop,
                            batch => OnnxRunner(engine.Run, batch, o),
                            $"int8 weights per channel, uint8 activations (calibrated on {calibration} noise images), gates and head float32; {o.Threads} intra-op threads"));
                    }
                }
            }

            if (o.OnnxModel is not null && Wants("onnx-file")) results.Add(TimeOnnxFile(o, unfusedGflop, fusedGflop));

            foreach (var name in new[] { "resnet18", "resnet34", "resnet50" })
            {
                if (!Wants(name)) continue;
                using var resnet = TorchVisionResNet(name);
                double gflop = ResNetGflop(name, size);
                results.Add(TimeTorch(o, name, $"TorchVision {name}", "TorchSharp", gflop, resnet, ScalarType.Float32));
            }

            if (o.Investigate) results.AddRange(InvestigateResNet18(o));

            var pytorchKeys = PyTorchReference.Keys.Where(Wants).ToHashSet();
            if (o.PyTorch is not null && pytorchKeys.Count > 0)
            {
                var outcome = PyTorchReference.Run(o.PyTorch, o, pytorchKeys, unfusedGflop, fusedGflop, name => ResNetGflop(name, size));
                results.AddRange(outcome.Results);
                notes.Add($"PyTorch {outcome.TorchVersion} (rows marked PyTorch) ran in a child process after the TorchSharp rows, with the same sizes, threads and repeats");
                if (outcome.FixtureCheck is not null) notes.Add($"the authors' code used for the PyTorch ParNet rows reproduces the fixture {outcome.FixtureCheck}");
            }

            return new BenchmarkReport
            {
                Options = o, Command = command, Machine = MachineDescription(), StartedUtc = started, Seconds = clock.Elapsed.TotalSeconds,
                LoadBefore = loadBefore, LoadAfter = LoadAverage(), MatmulGflops = peak, MatmulGflopsMedian = peakMedian, Results = results, Notes = notes,
            };
        }
        finally
        {
            set_num_threads(previousThreads);
        }
    }

    /// <summary>The given exported model, as `parnet predict` would run it.</summary>
    static BenchmarkResult TimeOnnxFile(InferenceBenchmarkOptions o, double unfusedGflop, double fusedGflop)
    {
        using var engine = new OnnxRuntimeEngine(o.OnnxModel!, new OnnxRuntimeOptions { IntraOpThreads = o.Threads });   // checked by Validate
        string kind = engine.Quantization is { } q ? q : "float32";
        return Time(o, "onnx-file", $"{Path.GetFileName(o.OnnxModel)}, ONNX Runtime sequential", "ONNX Runtime", engine.Info.Fused == false ? unfusedGflop : fusedGflop,
            batch => OnnxRunner(engine.Run, batch, o), $"{kind}; {o.Threads} intra-op threads");
    }

    /// <summary>
    /// The paper's Table 3 in ONNX Runtime (<see cref="OnnxStreamParallelEngine"/>): one session per stream, all at once, on
    /// the CPU ("onnx-streams", the threads shared out) and on CUDA ("onnx-cuda-streams", one device per stream from
    /// <see cref="InferenceBenchmarkOptions.CudaDevices"/>), with the whole graph on CUDA device 0 ("onnx-cuda") beside it.
    /// </summary>
    static IEnumerable<BenchmarkResult> TimeOnnxStreams(InferenceBenchmarkOptions o, ParNetModel model, int size, double gflop, Func<string, bool> wants)
    {
        int streams = o.Model.Streams, perStream = Math.Max(1, o.Threads / streams);
        var partition = wants("onnx-streams") || wants("onnx-cuda-streams") ? OnnxExporter.BuildStreamPartition(model, size, size) : null;
        if (wants("onnx-streams"))
        {
            using var engine = new OnnxStreamParallelEngine(partition!, new OnnxRuntimeOptions { IntraOpThreads = o.Threads },
                _ => new OnnxRuntimeOptions { IntraOpThreads = perStream });
            yield return Time(o, "onnx-streams", $"{o.Model.Name} fused, ONNX Runtime, a session per stream", "ONNX Runtime", gflop,
                batch => OnnxRunner(engine.Run, batch, o), $"{streams} stream sessions at once, {perStream} intra-op thread(s) each; values cross through host memory");
        }
        if (wants("onnx-cuda"))
        {
            using var engine = new OnnxRuntimeEngine(OnnxExporter.ExportToBytes(model, size), new OnnxRuntimeOptions { CudaDevice = 0 });
            yield return Time(o, "onnx-cuda", $"{o.Model.Name} fused, ONNX Runtime CUDA", "ONNX Runtime CUDA", gflop,
                batch => OnnxRunner(engine.Run, batch, o), "CUDA device 0; input from and logits back to the host");
        }
        if (wants("onnx-cuda-streams"))
        {
            var devices = o.CudaDevices ?? Enumerable.Repeat(0, streams).ToArray();
            using var engine = new OnnxStreamParallelEngine(partition!, new OnnxRuntimeOptions { CudaDevice = devices[0] },
                i => new OnnxRuntimeOptions { CudaDevice = devices[i] });
            yield return Time(o, "onnx-cuda-streams", $"{o.Model.Name} fused, ONNX Runtime CUDA, a session per stream", "ONNX Runtime CUDA", gflop,
                batch => OnnxRunner(engine.Run, batch, o), $"streams on CUDA devices {string.Join(", ", devices)}; values cross through host memory");
        }
    }

    static double ResNetGflop(string name, int size) => 2 * ResNetGMacs224[name] * size * size / (224.0 * 224.0);

    public static nn.Module<Tensor, Tensor> TorchVisionResNet(string name)
    {
        nn.Module<Tensor, Tensor> model = name switch
        {
            "resnet18" => torchvision.models.resnet18(),
            "resnet34" => torchvision.models.resnet34(),
            "resnet50" => torchvision.models.resnet50(),
            _ => throw new ArgumentException($"unknown ResNet {name}"),
        };
        model.eval();
        return model;
    }

    /// <summary>
    /// ResNet-18 under the settings that could explain TorchSharp being slower than PyTorch: no_grad instead of
    /// inference_mode, one intra-op thread, channels_last activations (oneDNN's native NHWC path, no reorders).
    /// </summary>
    static IEnumerable<BenchmarkResult> InvestigateResNet18(InferenceBenchmarkOptions o)
    {
        using var resnet = TorchVisionResNet("resnet18");
        double gflop = ResNetGflop("resnet18", o.ImageSize);
        var results = new List<BenchmarkResult>
        {
            Time(o, "resnet18-nograd", "TorchVision resnet18, no_grad (not inference_mode)", "TorchSharp", gflop,
                batch => TorchRunner(batch, o, ScalarType.Float32, x => resnet.call(x), inferenceMode: false)),
            Time(o, "resnet18-channels-last", "TorchVision resnet18, channels_last input", "TorchSharp", gflop,
                batch => TorchRunner(batch, o, ScalarType.Float32, x => resnet.call(x), channelsLast: true)),
        };
        MemoryFormat.ToChannelsLast(resnet);
        results.Add(Time(o, "resnet18-channels-last-weights", "TorchVision resnet18, channels_last input and weights", "TorchSharp", gflop,
            batch => TorchRunner(batch, o, ScalarType.Float32, x => resnet.call(x), channelsLast: true)));
        set_num_threads(1);
        try
        {
            results.Add(Time(o, "resnet18-1thread", "TorchVision resnet18, 1 thread", "TorchSharp", gflop,
                batch => TorchRunner(batch, o, ScalarType.Float32, x => resnet.call(x))));
        }
        finally { set_num_threads(o.Threads); }
        return results;
    }

    /// <summary>
    /// TorchSharp has no memory_format argument: a channels_last tensor is made by permuting to NHWC, copying, and
    /// permuting the view back; libtorch recognizes the strides (suggest_memory_format) and oneDNN runs NHWC.
    /// </summary>

    /// <summary>The model to time: the trained weights of <see cref="InferenceBenchmarkOptions.Weights"/>, or a fresh initialization.</summary>
    static (ImageClassifier Model, DeploymentInfo? Info) LoadTrained(InferenceBenchmarkOptions o)
    {
        if (o.Weights is null) return (ModelFactory.Create(o.Model), null);
        var loaded = ClassifierLoader.LoadWeights(o.Weights, o.Model, fuse: false, o.WeightsPick);
        if (!loaded.FusedFile) return (loaded.Model, loaded.Info);
        loaded.Model.Dispose();
        throw new InvalidDataException($"{o.Weights}: fused weights; the benchmark needs the trained (unfused) ones, it fuses them itself");
    }

    static BenchmarkResult TimeTorch(InferenceBenchmarkOptions o, string key, string name, string engine, double gflop,
                                     nn.Module<Tensor, Tensor> model, ScalarType dtype) =>
        Time(o, key, name, engine, gflop, batch => TorchRunner(batch, o, dtype, x => model.call(x)), dtype == ScalarType.BFloat16 ? "bfloat16 weights and activations" : null);

    static BenchmarkResult Time(InferenceBenchmarkOptions o, string key, string name, string engine, double gflop,
                                Func<int, (Action Run, IDisposable Owner)> runner, string? note = null)
    {
        o.Log?.Invoke(name);
        TimingStats Measure(int batch, int repeats)
        {
            var (run, owner) = runner(batch);
            using (owner) return TimingStats.Measure(run, batch == 1 ? o.Warmup : Math.Min(o.Warmup, 1), repeats);
        }
        var latency = Measure(1, o.Repeats);
        var batchTime = Measure(o.Batch, o.ThroughputRepeats);
        return new BenchmarkResult { Key = key, Name = name, Engine = engine, GflopPerImage = gflop, Latency = latency, Batch = o.Batch, BatchTime = batchTime, Note = note };
    }

    static (Action, IDisposable) TorchRunner(int batch, InferenceBenchmarkOptions o, ScalarType dtype, Func<Tensor, Tensor> forward,
                                             bool inferenceMode = true, bool channelsLast = false)
    {
        manual_seed(1);
        Tensor x;
        using (var scope = NewDisposeScope())   // holds the intermediates (RESULTS.md, defect 6); x lives as long as the runner
        {
            x = randn(batch, o.Model.InChannels, o.ImageSize, o.ImageSize).to(dtype);
            if (channelsLast) x = MemoryFormat.ToChannelsLast(x);
            x.DetachFromDisposeScope();
        }
        return (() =>
        {
            using var mode = inferenceMode ? inference_mode(true) : no_grad();
            using var scope = NewDisposeScope();
            forward(x);
        }, x);
    }

    static (Action, IDisposable) OnnxRunner(Func<float[], long[], (float[], long[])> run, int batch, InferenceBenchmarkOptions o)
    {
        var rng = new Random(1);
        long[] shape = [batch, o.Model.InChannels, o.ImageSize, o.ImageSize];
        var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return (() => run(data, shape), new NoOwner());
    }

    sealed class NoOwner : IDisposable { public void Dispose() { } }

    static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Trim(); } catch (IOException) { return "n/a"; } catch (UnauthorizedAccessException) { return "n/a"; }
    }

    public static string MachineDescription()
    {
        string cpu = CpuCapabilities.Current.Describe();
        string torchSharp = typeof(torch).Assembly.GetName().Version?.ToString() ?? "?";
        string ort = typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version?.ToString() ?? "?";
        return $"{cpu}, {Environment.ProcessorCount} logical cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, " +
               $".NET {Environment.Version}, TorchSharp {torchSharp}, ONNX Runtime {ort}, " +
               $"OMP_WAIT_POLICY={Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "(unset: libgomp spins, then sleeps)"}";
    }
}
