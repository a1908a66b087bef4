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
/// Batch-1 latency and batch-N throughput of ParNet (unfused, fused, fused channels_last with and without Winograd convs,
/// fused + stream-parallel, fused bfloat16, ONNX Runtime sequential and parallel) and TorchVision's ResNet-18/34/50, with
/// the authors' PyTorch code beside them
/// (<see cref="PyTorchSession"/>), all in one run of interleaved rounds (<see cref="MeasureInterleaved"/>);
/// median/min/max per row; GFLOP/s from the LayerGraph's multiply-adds against a 2048^3 float32 matmul measured in the
/// same run. TorchSharp runs in eval mode under torch.inference_mode() with set_num_threads(Threads).
/// </summary>
public static class InferenceBenchmark
{
    public static readonly IReadOnlyList<string> VariantKeys =
        ["unfused", "fused", "fused-channels-last", "fused-winograd", "fused-parallel", "fused-devices", "fused-bf16", "onnx-sequential", "onnx-parallel", "onnx-streams", "onnx-int8", "onnx-file", "onnx-cuda", "onnx-cuda-graph", "onnx-cuda-streams", .. ResNetRows.Keys,
         .. PyTorchReference.Keys];

    /// <summary>Rows that need ONNX Runtime's CUDA execution provider (a build with -p:OnnxRuntimeGpu=true): run when asked
    /// for by name, or by default where the provider is present.</summary>
    public static readonly IReadOnlyList<string> CudaKeys = ["onnx-cuda", "onnx-cuda-graph", "onnx-cuda-streams"];

    public static BenchmarkReport Run(InferenceBenchmarkOptions o, string command)
    {
        o.Validate();
        var conditions = BenchmarkConditions.Start(command);
        int previousThreads = get_num_threads();
        set_num_threads(o.Threads);
        var owned = new Disposables();   // every model and session the rows run, alive until all rows are timed
        try
        {
            bool Wants(string key) => o.Only is null ? !CudaKeys.Contains(key) || OnnxRuntimeOptions.CudaAvailable : o.Only.Contains(key);
            var rows = new List<BenchmarkRow>();
            var notes = new List<string>();
            var trained = owned.Add(LoadTrained(o));   // before any timing: fused weights are refused here
            o.Log?.Invoke("timing matmul 2048^3 float32 (the % matmul columns' reference)");
            var (peak, peakMedian) = MatmulPeak.Measure();

            var size = o.ImageSize;
            trained.eval();
            double unfusedGflop = 2.0 * trained.Trace(size, size).MultiplyAdds() / 1e9, fusedGflop = 0;
            if (Wants("unfused"))
                rows.Add(RowRunners.TorchRow(o, "unfused", $"{o.Model.Name} unfused", "TorchSharp", unfusedGflop, trained, ScalarType.Float32));
            if (o.Model.BlockType == BlockType.RepVggSse)   // fusable
            {
                var fused = owned.Add(ParNetFuser.Fuse(trained));
                fusedGflop = 2.0 * fused.Trace(size, size).MultiplyAdds() / 1e9;
                rows.AddRange(FusedTorchRows(o, trained, fused, fusedGflop, Wants, owned, notes));
                rows.AddRange(FusedOnnxRows(o, fused, fusedGflop, Wants, owned));
            }
            if (o.OnnxModel is not null && Wants("onnx-file")) rows.Add(OnnxFileRow(o, unfusedGflop, fusedGflop, owned));
            rows.AddRange(ResNetTorchRows(o, Wants, owned));
            rows.AddRange(PyTorchRows(o, unfusedGflop, fusedGflop, Wants, owned, notes));
            if (o.Investigate) rows.AddRange(ResNetRows.Investigation(o, owned));

            // Validate refuses every row chosen that cannot run, and a run of all rows has the ResNets: none is a defect here
            if (rows.Count == 0) throw new InvalidOperationException($"no row to time for {o.Model.Name}: the benchmark writes no empty report");
            if (o.Investigate || rows.Any(r => ResNetRows.IsBaseline(r.Key)))
                notes.Add(ResNetRows.Describe(o.Model));
            var results = MeasureInterleaved(o, rows);
            if (rows.Count > 1)
                notes.Insert(0, $"the {rows.Count} rows were timed in interleaved rounds: each round runs every row {UntimedBefore} times " +
                                "untimed and once timed, the first row rotating, so a machine whose speed drifts slows all rows alike");

            return new BenchmarkReport
            {
                Options = o, Conditions = conditions(), MatmulGflops = peak, MatmulGflopsMedian = peakMedian, Results = results, Notes = notes,
            };
        }
        finally
        {
            owned.Dispose();
            set_num_threads(previousThreads);
        }
    }

    /// <summary>The fused model in TorchSharp: as fused, channels_last, with Winograd convs (or a note why not), stream-parallel,
    /// one device per stream, bfloat16. Each row but "fused" and "fused-parallel" runs its own copy of the fused weights.</summary>
    static List<BenchmarkRow> FusedTorchRows(InferenceBenchmarkOptions o, ImageClassifier trained, ParNetModel fused, double fusedGflop,
                                             Func<string, bool> wants, Disposables owned, List<string> notes)
    {
        var rows = new List<BenchmarkRow>();
        if (wants("fused"))
            rows.Add(RowRunners.TorchRow(o, "fused", $"{o.Model.Name} fused", "TorchSharp", fusedGflop, fused, ScalarType.Float32));
        if (wants("fused-channels-last"))
        {
            var nhwc = owned.Add(ParNetFuser.Fuse(trained));
            MemoryFormat.ToChannelsLast(nhwc);
            rows.Add(new BenchmarkRow("fused-channels-last", $"{o.Model.Name} fused, channels_last", "TorchSharp", fusedGflop,
                batch => RowRunners.Torch(batch, o, ScalarType.Float32, x => nhwc.call(x), channelsLast: true),
                "channels_last weights and input (oneDNN's NHWC kernels)"));
        }
        if (wants("fused-winograd") && !WinogradConvolution.IsSupported)
            notes.Add($"fused-winograd not run: {WinogradConvolution.UnsupportedReason}");
        else if (wants("fused-winograd"))
        {
            var winograd = owned.Add(ParNetFuser.Fuse(trained));
            MemoryFormat.ToChannelsLast(winograd);
            var plan = owned.Add(WinogradPlan.For(winograd));
            rows.Add(new BenchmarkRow("fused-winograd", $"{o.Model.Name} fused, channels_last, Winograd", "TorchSharp", fusedGflop,
                batch => RowRunners.Torch(batch, o, ScalarType.Float32, x => winograd.call(x), channelsLast: true),
                $"as fused-channels-last, its {plan.Convolutions} 3x3 stride-1 convs as Winograd F(4x4, 3x3) (fewer multiply-adds than counted)"));
        }
        if (wants("fused-parallel"))
        {
            // the threads asked for, shared out (the executor's default, cores / streams, ran 3 x 5 threads for 1 asked on 16 cores)
            var executor = new StreamParallelExecutor(fused, ThreadsPerStream(o));
            rows.Add(new BenchmarkRow("fused-parallel", $"{o.Model.Name} fused + stream-parallel", "TorchSharp", fusedGflop,
                batch => RowRunners.Torch(batch, o, ScalarType.Float32, x => executor.Forward(x)),
                $"{fused.Streams} streams on worker threads, {executor.ThreadsPerStream} intra-op thread(s) each" + BeyondThreads(o, fused.Streams * executor.ThreadsPerStream)));
        }
        if (o.StreamDevices is not null && wants("fused-devices"))
        {
            var executor = new MultiDeviceStreamExecutor(owned.Add(ParNetFuser.Fuse(trained)), o.StreamDevices);
            rows.Add(new BenchmarkRow("fused-devices", $"{o.Model.Name} fused, one device per stream", "TorchSharp", fusedGflop,
                batch => RowRunners.Torch(batch, o, ScalarType.Float32, x => executor.Forward(x).cpu()),
                $"streams on {string.Join(", ", o.StreamDevices)}; input from and logits back to the host (the copy-back synchronizes)"));
        }
        if (wants("fused-bf16"))
        {
            var bf16 = owned.Add(ParNetFuser.Fuse(trained));
            bf16.to(ScalarType.BFloat16);
            rows.Add(RowRunners.TorchRow(o, "fused-bf16", $"{o.Model.Name} fused bfloat16", "TorchSharp", fusedGflop, bf16, ScalarType.BFloat16));
        }
        return rows;
    }

    /// <summary>The fused model exported to ONNX Runtime: sequential and parallel sessions, a session per stream (CPU and
    /// CUDA, <see cref="OnnxStreamRows"/>), and int8.</summary>
    static List<BenchmarkRow> FusedOnnxRows(InferenceBenchmarkOptions o, ParNetModel fused, double fusedGflop, Func<string, bool> wants, Disposables owned)
    {
        var rows = new List<BenchmarkRow>();
        int size = o.ImageSize;
        if (wants("onnx-sequential") || wants("onnx-parallel"))
        {
            var bytes = OnnxExporter.ExportToBytes(fused, size);
            foreach (bool parallel in new[] { false, true })
            {
                string key = parallel ? "onnx-parallel" : "onnx-sequential";
                if (!wants(key)) continue;
                // parallel: a node per stream at once on the inter-op threads, which share the intra-op pool (counting the calling
                // thread): inter + intra - 1 threads busy at most, the threads asked for (it was streams + Threads - 1)
                int inter = parallel ? Math.Min(o.Model.Streams, o.Threads) : 0, intra = parallel ? o.Threads - inter + 1 : o.Threads;
                var options = new OnnxRuntimeOptions { IntraOpThreads = intra, Parallel = parallel, InterOpThreads = inter };
                var engine = owned.Add(new OnnxRuntimeEngine(bytes, options));
                rows.Add(new BenchmarkRow(key, $"{o.Model.Name} fused, ONNX Runtime {(parallel ? "parallel" : "sequential")}", "ONNX Runtime", fusedGflop,
                    batch => RowRunners.Onnx(engine.Run, batch, o),
                    parallel ? $"ORT_PARALLEL, {inter} inter-op thread(s) sharing {intra} intra-op (the calling thread one of them)" : $"ORT_SEQUENTIAL, {o.Threads} intra-op threads"));
            }
        }
        if (wants("onnx-streams") || CudaKeys.Any(wants))
            rows.AddRange(OnnxStreamRows(o, fused, size, fusedGflop, wants, owned));
        if (wants("onnx-int8"))
        {
            // noise calibrates the ranges: the int8 kernels' speed does not depend on them (accuracy: `parnet eval` of an --int8 export)
            const int calibration = 4;
            var int8 = Int8Exporter.ExportToBytes(fused, size, Int8Exporter.NoiseImages(o.Model, size, calibration), new Int8Options { CalibrationImages = calibration });
            var engine = owned.Add(new OnnxRuntimeEngine(int8, new OnnxRuntimeOptions { IntraOpThreads = o.Threads }));
            rows.Add(new BenchmarkRow("onnx-int8", $"{o.Model.Name} fused int8 (QDQ), ONNX Runtime sequential", "ONNX Runtime", fusedGflop,
                batch => RowRunners.Onnx(engine.Run, batch, o),
                $"int8 weights per channel, uint8 activations (calibrated on {calibration} noise images), gates and head float32; {o.Threads} intra-op threads"));
        }
        return rows;
    }

    /// <summary>TorchVision's ResNets in TorchSharp, the baselines of the paper's tables.</summary>
    static List<BenchmarkRow> ResNetTorchRows(InferenceBenchmarkOptions o, Func<string, bool> wants, Disposables owned)
    {
        var rows = new List<BenchmarkRow>();
        foreach (var name in ResNetRows.Keys)
        {
            if (!wants(name)) continue;
            var resnet = owned.Add(ResNetRows.Create(name, o.Model));
            rows.Add(RowRunners.TorchRow(o, name, $"TorchVision {name}", "TorchSharp", ResNetRows.Gflop(name, o.ImageSize, o.Model), resnet, ScalarType.Float32));
        }
        return rows;
    }

    /// <summary>The authors' PyTorch code (and torchvision's ResNets) in a child process (<see cref="PyTorchReference"/>), when
    /// a Python is given and a PyTorch row is wanted; the notes say how its times compare with ours.</summary>
    static List<BenchmarkRow> PyTorchRows(InferenceBenchmarkOptions o, double unfusedGflop, double fusedGflop, Func<string, bool> wants,
                                          Disposables owned, List<string> notes)
    {
        var rows = new List<BenchmarkRow>();
        var pytorchKeys = PyTorchReference.Keys.Where(wants).ToHashSet();
        if (o.PyTorch is null || pytorchKeys.Count == 0) return rows;
        o.Log?.Invoke("starting the PyTorch child: it builds its models");
        var session = owned.Add(PyTorchReference.Start(o.PyTorch, o, pytorchKeys));
        for (int i = 0; i < session.Rows.Count; i++)
        {
            int row = i;
            string key = session.Rows[i].Key;
            double gflop = key switch { "pytorch-unfused" => unfusedGflop, "pytorch-fused" => fusedGflop, _ => ResNetRows.Gflop(key["pytorch-".Length..], o.ImageSize, o.Model) };
            rows.Add(new BenchmarkRow(key, session.Rows[i].Name, $"PyTorch {session.TorchVersion}", gflop, batch => (() => session.Run(row, batch), new RowRunners.NoOwner()),
                $"separate process, {session.Threads} threads, inference_mode" + (key == "pytorch-fused" ? ", the authors' fuse_repvgg_block" : "")));
        }
        double roundTrip = Enumerable.Range(0, 5).Select(_ => session.RoundTrip()).Min();
        notes.Add($"PyTorch {session.TorchVersion} (rows marked PyTorch) runs in a child process, its rows in the same interleaved rounds as ours; " +
                  $"each time is the child's own, around its forward pass (a round trip to the child, {roundTrip * 1e6:F0} us, is not counted)");
        if (session.FixtureCheck is not null) notes.Add($"the authors' code used for the PyTorch ParNet rows reproduces the fixture {session.FixtureCheck}");
        return rows;
    }

    /// <summary>Untimed runs of a row before each timed one. Two: ParNet-S int8 in ONNX Runtime, interleaved with three
    /// other rows, read 14-21 ms (median) after one untimed run and 13.4-13.6 ms after two, alone 12.8-13.3 ms; its
    /// minimum was 12.2-12.6 ms in every setting (Zen 5, 2026-12-03).</summary>
    public const int UntimedBefore = 2;

    /// <summary>Batch-1 latency, then batch-N time, of every row in interleaved rounds (<see cref="TimingStats.MeasureInterleaved"/>),
    /// each timed run after <see cref="UntimedBefore"/> untimed ones of the same row. Rows timed one after another were
    /// exposed to the drift of a shared VM between them: ParNet-S unfused, the first row, read 84-94 ms in one run and 59 ms
    /// with 15 warm-up runs (Zen 5, 2026-12-03), so the fused/unfused ratio of the rows was 1.8-1.9x where interleaved
    /// rounds give 1.4x.</summary>
    static List<BenchmarkResult> MeasureInterleaved(InferenceBenchmarkOptions o, IReadOnlyList<BenchmarkRow> rows)
    {
        if (rows.Count == 0) return [];
        TimingStats[] Measure(int batch, int warmup, int rounds)
        {
            o.Log?.Invoke($"timing batch {batch}: {rows.Count} row(s), {warmup} warm-up + {rounds} interleaved rounds");
            using var inputs = new Disposables();
            // a line every ProgressEvery at most: the batch-1 phase of a default run said one line, then nothing for 60-90 s
            var sinceLine = System.Diagnostics.Stopwatch.StartNew();
            void Progress(int round)
            {
                if (sinceLine.Elapsed < ProgressEvery || round == warmup + rounds - 1) return;
                o.Log?.Invoke($"batch {batch}: round {round + 1} of {warmup + rounds} done");
                sinceLine.Restart();
            }
            var runs = rows.Select(row =>
            {
                var (run, owner) = row.Runner(batch);
                inputs.Add(owner);
                return run;
            }).ToList();
            return TimingStats.MeasureInterleavedSelfTimed(runs, warmup, rounds, UntimedBefore, Progress).Select(TimingStats.Of).ToArray();
        }
        var latency = Measure(1, o.Warmup, o.Rounds);
        var batchTime = Measure(o.Batch, ThroughputWarmup(o), o.ThroughputRounds);
        return rows.Select((r, i) => new BenchmarkResult
        {
            Key = r.Key, Name = r.Name, Engine = r.Engine, GflopPerImage = r.Gflop, Latency = latency[i], Batch = o.Batch, BatchTime = batchTime[i], Note = r.Note,
        }).ToList();
    }

    /// <summary>10 s: often enough that a run does not look stuck, rarely enough that the lines stay few (a default run's
    /// batch-1 phase takes 60-90 s on 2 cores).</summary>
    public static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(10);

    /// <summary>Untimed rounds before the batch-N rounds: at most one (each is N images; the batch-1 rounds warmed the rows up).</summary>
    public static int ThroughputWarmup(InferenceBenchmarkOptions o) => Math.Min(o.Warmup, 1);

    /// <summary>The given exported model, as `parnet predict` would run it.</summary>
    static BenchmarkRow OnnxFileRow(InferenceBenchmarkOptions o, double unfusedGflop, double fusedGflop, Disposables owned)
    {
        var engine = owned.Add(new OnnxRuntimeEngine(o.OnnxModel!, new OnnxRuntimeOptions { IntraOpThreads = o.Threads }));   // checked by Validate
        string kind = engine.Quantization is { } q ? q : "float32";
        // a graph from another tool stores no form: its GFLOP are counted from its own layers (they were credited with the
        // fused network's), or, where ONNX Runtime infers no shape for one, as the fused network's, and the note says which
        double gflop = engine.Info.Fused == false ? unfusedGflop : fusedGflop;
        string form = "";
        if (engine.Info.Fused is null)
        {
            long? counted = OnnxLayerShapes.MultiplyAdds(OnnxLayerShapes.Weightless(o.OnnxModel!), o.ImageSize);
            (gflop, form) = counted is long macs ? (2.0 * macs / 1e9, "; form not stored, GFLOP counted from its graph") : (gflop, "; form not stored, GFLOP counted as fused");
        }
        return new BenchmarkRow("onnx-file", $"{Path.GetFileName(o.OnnxModel)}, ONNX Runtime sequential", "ONNX Runtime", gflop,
            batch => RowRunners.Onnx(engine.Run, batch, o), $"{kind}; {o.Threads} intra-op threads{form}");
    }

    /// <summary>
    /// The paper's Table 3 in ONNX Runtime (<see cref="OnnxStreamParallelEngine"/>): one session per stream, all at once, on
    /// the CPU ("onnx-streams", the threads shared out) and on CUDA ("onnx-cuda-streams", one device per stream from
    /// <see cref="InferenceBenchmarkOptions.CudaDevices"/>), with the whole graph on CUDA device 0 beside it, launched kernel
    /// by kernel ("onnx-cuda") and replayed as a CUDA graph ("onnx-cuda-graph").
    /// </summary>
    static List<BenchmarkRow> OnnxStreamRows(InferenceBenchmarkOptions o, ParNetModel model, int size, double gflop, Func<string, bool> wants, Disposables owned)
    {
        var rows = new List<BenchmarkRow>();
        int streams = o.Model.Streams, perStream = ThreadsPerStream(o);
        var partition = wants("onnx-streams") || wants("onnx-cuda-streams") ? OnnxExporter.BuildStreamPartition(model, size, size) : null;
        if (wants("onnx-streams"))
        {
            var engine = owned.Add(new OnnxStreamParallelEngine(partition!, new OnnxRuntimeOptions { IntraOpThreads = o.Threads },
                _ => new OnnxRuntimeOptions { IntraOpThreads = perStream }));
            rows.Add(new BenchmarkRow("onnx-streams", $"{o.Model.Name} fused, ONNX Runtime, a session per stream", "ONNX Runtime", gflop,
                batch => RowRunners.Onnx(engine.Run, batch, o), $"{streams} stream sessions at once, {perStream} intra-op thread(s) each" + BeyondThreads(o, streams * perStream)));
        }
        var whole = wants("onnx-cuda") || wants("onnx-cuda-graph") ? OnnxExporter.ExportToBytes(model, size) : null;
        if (wants("onnx-cuda"))
        {
            var engine = owned.Add(new OnnxRuntimeEngine(whole!, new OnnxRuntimeOptions { CudaDevice = 0 }));
            rows.Add(new BenchmarkRow("onnx-cuda", $"{o.Model.Name} fused, ONNX Runtime CUDA", "ONNX Runtime CUDA", gflop,
                batch => RowRunners.Onnx(engine.Run, batch, o), "CUDA device 0; input from and logits back to the host"));
        }
        if (wants("onnx-cuda-graph"))
        {
            rows.Add(new BenchmarkRow("onnx-cuda-graph", $"{o.Model.Name} fused, ONNX Runtime CUDA graph", "ONNX Runtime CUDA", gflop,
                batch => RowRunners.Onnx(owned.Add(new OnnxCudaGraphEngine(whole!, [batch, o.Model.InChannels, size, size])).Run, batch, o),
                "CUDA device 0, recorded once per batch size and replayed; input and logits through host memory"));
        }
        if (wants("onnx-cuda-streams"))
        {
            var devices = o.CudaDevices ?? Enumerable.Repeat(0, streams).ToArray();
            var engine = owned.Add(new OnnxStreamParallelEngine(partition!, new OnnxRuntimeOptions { CudaDevice = devices[0] },
                i => new OnnxRuntimeOptions { CudaDevice = devices[i] }));
            rows.Add(new BenchmarkRow("onnx-cuda-streams", $"{o.Model.Name} fused, ONNX Runtime CUDA, a session per stream", "ONNX Runtime CUDA", gflop,
                batch => RowRunners.Onnx(engine.Run, batch, o), $"streams on CUDA devices {string.Join(", ", devices)}; values between the parts " + (engine.KeepsValuesOnGpu ? "stay on the device" : "cross through host memory")));
        }
        return rows;
    }

    /// <summary>Intra-op threads of each stream in the rows that run the streams at once: the threads asked for shared out, at
    /// least one (a stream needs a thread of its own).</summary>
    static int ThreadsPerStream(InferenceBenchmarkOptions o) => Math.Max(1, o.Threads / o.Model.Streams);

    /// <summary>"; 3 threads in all, more than the 1 asked for (one per stream)": a row whose design runs more threads than
    /// <see cref="InferenceBenchmarkOptions.Threads"/> says so beside its time; empty where it keeps to them.</summary>
    static string BeyondThreads(InferenceBenchmarkOptions o, int total) =>
        total > o.Threads ? $"; {total} threads in all, more than the {o.Threads} asked for (one per stream at least)" : "";

    /// <summary>The model to time: the trained weights of <see cref="InferenceBenchmarkOptions.Weights"/>, or a fresh initialization.</summary>
    static ImageClassifier LoadTrained(InferenceBenchmarkOptions o)
    {
        if (o.Weights is null) return ModelFactory.Create(o.Model);
        var loaded = ClassifierLoader.LoadWeights(o.Weights, o.Model, NetworkForm.AsStored, o.WeightsPick);
        if (!loaded.FusedFile) return loaded.Model;
        loaded.Model.Dispose();
        throw new InvalidDataException($"{o.Weights}: fused weights; the benchmark needs the trained (unfused) ones, it fuses them itself");
    }

    /// <summary>/proc/loadavg as it reads, or "n/a" where there is none.</summary>
    public static string LoadAverage()
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
