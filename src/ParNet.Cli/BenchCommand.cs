using System.CommandLine;
using ParNet.Benchmarking;
using ParNet.Export;
using ParNet.Inference;
using ParNet.Runtime;
using static TorchSharp.torch;

namespace ParNet.Cli;

/// <summary>`parnet bench`: inference latency/throughput of ParNet variants, ONNX Runtime and TorchVision ResNets.</summary>
public sealed class BenchCommand : CliCommand
{
    const string DefaultModel = "parnet_s";   // the paper's headline model
    readonly ModelOptions _model = new($"the model stored with --weights, else {DefaultModel}, the paper's headline model");
    readonly Option<bool> _ema = WeightsLoading.EmaOption();
    readonly Option<string?> _weights = CliOption.Text("--weights", "trained (unfused) weights of the model, in any format the other commands' " +
        "--weights read (not fused weights; an .onnx is --onnx-model's); bench fuses them itself " +
        "(default: a seeded random initialization, with a warning: timings do not depend on the weights' values)", "W");
    readonly Option<int?> _imageSize = CliOption.Int("--image-size", $"input side in pixels (default: {CliOption.StoredSide})", "PX");
    readonly Option<int?> _batch = CliOption.Int("--batch-size", $"batch of the throughput rows (default {InferenceBenchmarkOptions.DefaultBatch}: large enough to fill 2 cores, small enough for 224 px in memory; --batch: its older name)",
                                                 aliases: "--batch");   // the name every other command gives a batch; --batch before
    readonly Option<int?> _warmup = CliOption.Int("--warmup", $"untimed rounds first, every row once a round (default {InferenceBenchmarkOptions.DefaultWarmup}: allocator and oneDNN caches settle)");
    readonly Option<int?> _rounds = CliOption.Int("--rounds", "timed batch-1 rounds: each runs every row twice untimed, then once timed, the rows interleaved so drift hits all alike; the median is reported " +
        $"(default {InferenceBenchmarkOptions.DefaultRounds}; --repeats: its older name)", aliases: "--repeats");   // "rounds" as train-bench and the suites; --repeats before
    readonly Option<int?> _throughputRounds = CliOption.Int("--throughput-rounds", $"timed batch-N rounds (default {InferenceBenchmarkOptions.DefaultThroughputRounds}: " +
                                                            "each run is N images; --throughput-repeats: its older name)",
                                                            aliases: "--throughput-repeats");
    readonly Option<int?> _threads = CliOption.Int("--threads", $"intra-op threads (default: the logical cores, {Environment.ProcessorCount} here)");
    readonly Option<string?> _only = CliOption.Text("--only", "a subset of: " + string.Join(", ", InferenceBenchmark.VariantKeys) +
        " (default: every row whose inputs are at hand: the onnx-cuda rows with a CUDA build, fused-devices with --stream-devices, onnx-file with " +
        "--onnx-model, the pytorch rows with --pytorch-code)", "KEY,KEY...");
    readonly Option<bool> _investigate = CliOption.Switch("--investigate",
        "also time ResNet-18 with no_grad, channels_last and 1 thread (TorchSharp vs PyTorch speed)");
    readonly Option<string?> _waitPolicy = CliOption.Text("--omp-wait-policy", "passive|active: OpenMP threads sleep (passive) or spin (active) " +
        "between parallel regions; passive is far faster when other processes share the cores (default: libgomp's own)", "POLICY");
    readonly Option<string?> _out = CliOption.Text("--out", "folder for bench.json, bench.md, bench.png, which replace an earlier run's there as a set once timing has succeeded (a run that fails or is stopped leaves them as they were) (default runs/bench, beside training runs and outside git: results/ holds the committed measurements, each with its command)", "DIR");
    readonly Option<string?> _streamDevices = CliOption.Text("--stream-devices", "adds the row \"fused-devices\": one device per stream " +
        "(the paper's Table 3); GPUs need a CUDA build of TorchSharp (this one is TorchSharp-cpu: cpu,cpu,cpu runs the same code path)", "cuda:0,cuda:1,...");
    readonly Option<string?> _cudaDevices = CliOption.Text("--cuda-devices", "the CUDA device of each stream's ONNX Runtime session in the row " +
        "\"onnx-cuda-streams\" (default: all on device 0, a CUDA stream each); the onnx-cuda rows need a build made with -p:OnnxRuntimeGpu=true", "0,1,2");
    readonly PyTorchCliOptions _pytorch = new("also time the authors' released PyTorch code (a checkout of " +
        "github.com/imankgoyal/NonDeepNetworks) unfused and fused, and torchvision's ResNets, on PyTorch in a child process, its rows in the same interleaved rounds as ours", fixture: true);

    readonly Option<string?> _onnxModel = CliOption.Text("--onnx-model", "adds the row \"onnx-file\": an exported .onnx of the same model " +
        "and image size (float32 or `parnet export --int8`), run by ONNX Runtime as `parnet predict` runs it; without --weights or " +
        "--model/--config, the model and side stored in the file", "M.onnx");

    public override string Name => "bench";
    public override string Summary => "inference latency and throughput: ParNet unfused/fused/parallel/bf16/ONNX Runtime vs ResNets (quiet machines only)";

    protected override void Declare(Command command)
    {
        _model.AddTo(command);
        command.Add(_weights, _ema, _imageSize, _batch, _warmup, _rounds, _throughputRounds, _threads, _only, _investigate, _waitPolicy, _out,
                    _streamDevices, _cudaDevices, _pytorch.Code, _pytorch.Python, _pytorch.Fixture!, _onnxModel);
    }

    static Device[] ParseDevices(string spec)
    {
        try { return MultiDeviceStreamExecutor.ParseDevices(spec); }
        catch (ArgumentException e) { throw new UsageException($"--stream-devices {spec}: {e.Message}"); }
    }

    static int[] ParseCudaDevices(string spec)
    {
        var parts = spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var devices = parts.Select(p => int.TryParse(p, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int d) ? d : -1).ToArray();
        if (devices.Length == 0 || devices.Any(d => d < 0))
            throw new UsageException($"--cuda-devices {spec}: a comma-separated list of CUDA device indices, one per stream (e.g. 0,1,2)");
        return devices;
    }

    /// <summary>The model stored in an exported file and the side it runs at: its graph's fixed side, else the one stored.</summary>
    static (Models.ModelConfig? Model, int? Side) ExportedModel(string path)
    {
        using var engine = new OnnxRuntimeEngine(path);
        int? side = UsageException.Wrap(engine.FixedImageSide, $"--onnx-model {path}");
        return (engine.Info.Model, side ?? (engine.Info.Model is { } model ? engine.Info.SideFor(model) : null));
    }

    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        // first: libgomp reads it when libtorch loads, which reading the model stored with --weights may already do
        if (parse.GetValue(_waitPolicy) is { } waitPolicy)
        {
            if (waitPolicy is not ("passive" or "active")) throw new UsageException($"--omp-wait-policy {waitPolicy}: use passive or active");
            NativeSetup.SetOpenMpWaitPolicy(waitPolicy);
        }
        string? weights = parse.GetValue(_weights);
        var given = _model.ReadOptional(parse);
        // what the weights store: the model too where none is given (as every --weights command); where one is, only the metadata
        // (a released .pth.tar is not read twice for it)
        var stored = weights is null ? null
                     : given is null ? ClassifierLoader.Stored(weights, WeightsLoading.Pick(parse.GetValue(_ema))) : DeploymentInfo.ForWeights(weights);
        string? onnxModel = parse.GetValue(_onnxModel);
        if (onnxModel is not null && !File.Exists(onnxModel)) throw new UsageException($"--onnx-model {onnxModel}: no such file");
        // without weights or a model, those of the exported file: bench refused its own export of a model not the default
        // ("a parnet_cifar_small_w8 model; the benchmark's model is parnet_s"), as predict and serve take it (export audit, session 48)
        var (exportedModel, exportedSide) = weights is null && given is null && onnxModel is not null ? ExportedModel(onnxModel) : default;
        var config = given ?? stored?.Model ?? exportedModel ?? _model.Read(parse, defaultModel: DefaultModel);
        // the side stored with the weights, as predict and export take it (help audit, session 41: bench timed a 160 px run at 224)
        int size = parse.GetValue(_imageSize) ?? stored?.SideFor(config) ?? exportedSide ?? config.DefaultImageSize;
        int batch = parse.GetValue(_batch) ?? InferenceBenchmarkOptions.DefaultBatch;
        int warmup = parse.GetValue(_warmup) ?? InferenceBenchmarkOptions.DefaultWarmup;
        int rounds = parse.GetValue(_rounds) ?? InferenceBenchmarkOptions.DefaultRounds;
        int throughputRounds = parse.GetValue(_throughputRounds) ?? InferenceBenchmarkOptions.DefaultThroughputRounds;
        int threads = parse.GetValue(_threads) ?? Environment.ProcessorCount;
        CliOption.RequireAtLeastOne(parse.Typed(_batch), batch);
        CliOption.RequireAtLeastOne(parse.Typed(_rounds), rounds);
        CliOption.RequireAtLeastOne(parse.Typed(_throughputRounds), throughputRounds);
        CliOption.CheckThreads(threads, Name, stderr);   // the counts without an older name are refused by options.Validate below
        string? only = parse.GetValue(_only);
        bool investigate = parse.GetValue(_investigate);
        string output = parse.GetValue(_out) ?? Path.Combine("runs", "bench");
        string? streamDevices = parse.GetValue(_streamDevices);
        HashSet<string>? keys = only?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
        var pytorch = _pytorch.Read(parse);   // its folder, Python and fixture checked by options.Validate below

        var options = new InferenceBenchmarkOptions
        {
            Model = config, Weights = weights, WeightsPick = WeightsLoading.Pick(parse.GetValue(_ema)), ImageSize = size, Batch = batch, Warmup = warmup, Rounds = rounds,
            ThroughputRounds = throughputRounds, Threads = threads, Only = keys, Investigate = investigate,
            StreamDevices = streamDevices is null ? null : ParseDevices(streamDevices), OnnxModel = onnxModel,
            CudaDevices = parse.GetValue(_cudaDevices) is string cudaDevices ? ParseCudaDevices(cudaDevices) : null,
            PyTorch = pytorch,
            Log = line => stderr.WriteLine($"  {line} ..."),   // stdout is the report alone (`bench > report.md` held these lines)
        };
        try { options.Validate(); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException) { throw new UsageException(OptionNames.Worded(e)); }
        bool created;
        try { created = OutputFolder.Prepare(output); }   // before minutes of timing, not after
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UsageException($"--out {output}: cannot write there: {e.Message}"); }
        if ((keys is null || keys.Contains("fused-bf16")) && CpuCapabilities.Current.Bf16Warning() is { } slow)
            stderr.WriteLine($"parnet bench: warning: fused-bf16: {slow}");
        if (weights is null)
        {
            if (keys is null || keys.Any(key => key != "onnx-file"))   // the file's own weights run in that row
                WeightsLoading.WarnRandomInitialization(stderr, Name, config);
            manual_seed(ClassifierLoader.RandomInitializationSeed);   // the benchmark initializes the model itself
        }
        string command = "parnet bench " + ShellWords.Join(Environment.GetCommandLineArgs().Skip(2));
        BenchmarkReport report;
        // Ctrl-C or SIGTERM while timing: the process ends as the signal ends it, and the --out folder made for the report, still
        // empty, goes with it (it stayed: bench/export audit, session 41); an earlier run's report there stays as it was
        using var signalled = new ManualResetEventSlim();
        using (new EndingSignals(signal =>
               {
                   PyTorchReference.AbandonChildren();   // its child and its scripts' folder in /tmp, which no Dispose reaches now
                   if (created) OutputFolder.RemoveIfEmpty(output);
                   stderr.WriteLine($"parnet bench: {EndingSignals.What(signal)} while timing: no report written");
                   signalled.Set();
               }))
        {
            try { report = InferenceBenchmark.Run(options, command); }
            catch (PyTorchReferenceFailedException) when (signalled.Wait(TrainBenchCommand.SignalGrace))
            {
                // the signal reached the child too, whose death this side saw first and reported beside the signal's line (bench audit)
                Thread.Sleep(Timeout.Infinite);   // the signal ends the process
                throw;
            }
            catch when (created)
            {
                OutputFolder.RemoveIfEmpty(output);
                throw;
            }
        }
        // the earlier run's three files are replaced now, as a set, and a signal waits for the new set to be written: bench.json
        // beside an older bench.md and bench.png was left by a stop between them (bench audit), and removing the older set before
        // timing lost it to any run that then failed (review, session 48)
        IReadOnlyList<string> files;
        using (var whileWriting = new StopSignals())
        {
            try { files = BenchmarkReportWriter.Replace(report, output); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                try { BenchmarkReportWriter.RemoveReport(output); }   // no set of new and old files
                catch (Exception e2) when (e2 is IOException or UnauthorizedAccessException) { }   // the first failure is the one to report
                throw;
            }
            if (whileWriting.Stopped)
            {
                stderr.WriteLine($"parnet bench: {whileWriting.What} while the report was written; it was finished first: {string.Join(", ", files)}");
                return whileWriting.ExitCode;
            }
        }
        stdout.WriteLine(BenchmarkReportWriter.ToMarkdown(report));
        stdout.WriteLine($"wrote {string.Join(", ", files)}");
        return 0;
    }
}
