using ParNet.Inference;
using ParNet.Models;
using ParNet.Models.Tracing;
using ParNet.Runtime;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Benchmarking;

/// <summary>What `parnet bench` measures and how often.</summary>
public sealed record InferenceBenchmarkOptions
{
    /// <summary>The ParNet under test (weights do not change speed: random initialization unless given).</summary>
    public required ModelConfig Model { get; init; }
    public string? Weights { get; init; }
    /// <summary>Which weights of a training checkpoint <see cref="Weights"/> to time (the same cost either way).</summary>
    public CheckpointWeights WeightsPick { get; init; }
    /// <summary>Input side: 224, the paper's ImageNet size (`parnet bench` passes the model's own, 32 for CIFAR layouts).</summary>
    public int ImageSize { get; init; } = DefaultImageSize;
    public const int DefaultImageSize = 224;
    /// <summary>Batch of the throughput measurement (batch 1 is always measured for latency).</summary>
    public int Batch { get; init; } = DefaultBatch;
    /// <summary>8: large enough to fill 2 cores, small enough for 224 px in memory.</summary>
    public const int DefaultBatch = 8;
    /// <summary>Untimed rounds first, every row once a round.</summary>
    public int Warmup { get; init; } = DefaultWarmup;
    /// <summary>3: the allocator and oneDNN's caches settle.</summary>
    public const int DefaultWarmup = 3;
    /// <summary>Timed batch-1 rounds; the median is reported.</summary>
    public int Rounds { get; init; } = DefaultRounds;
    /// <summary>15: an odd count, so that the median reported is one measured round.</summary>
    public const int DefaultRounds = 15;
    /// <summary>Timed batch-N rounds.</summary>
    public int ThroughputRounds { get; init; } = DefaultThroughputRounds;
    /// <summary>4: each run is N (<see cref="Batch"/>) images, so few rounds time many images.</summary>
    public const int DefaultThroughputRounds = 4;
    /// <summary>torch.set_num_threads and ONNX Runtime's intra-op threads: every logical core, as a deployment on a quiet machine uses them.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;
    /// <summary>Variant keys to run (null: all). See <see cref="InferenceBenchmark.VariantKeys"/>.</summary>
    public IReadOnlySet<string>? Only { get; init; }
    /// <summary>Also time ResNet-18 under alternative settings (no_grad, 1 thread, channels_last) to explain its speed.</summary>
    public bool Investigate { get; init; }
    /// <summary>One device per stream for the "fused-devices" row (null: no such row). See <see cref="MultiDeviceStreamExecutor"/>.</summary>
    public IReadOnlyList<Device>? StreamDevices { get; init; }
    /// <summary>CUDA device of each stream's session in the "onnx-cuda-streams" row (null: every stream on device 0, each
    /// session with its own CUDA stream).</summary>
    public IReadOnlyList<int>? CudaDevices { get; init; }
    /// <summary>Also run the authors' PyTorch code and torchvision on PyTorch, in a child process whose rows take turns with ours (null: no).</summary>
    public PyTorchReferenceOptions? PyTorch { get; init; }
    /// <summary>An exported .onnx (float32 or int8, e.g. from `parnet export --int8`) for the "onnx-file" row (null: no such row).</summary>
    public string? OnnxModel { get; init; }
    /// <summary>Progress lines: each phase as it starts, and within a long one the rounds done, every
    /// <see cref="InferenceBenchmark.ProgressEvery"/> at most.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>The file must hold this benchmark's model at its image size, or its row would compare unlike things.</summary>
    void CheckOnnxModel(string path)
    {
        using var engine = new OnnxRuntimeEngine(path);
        string onnxModel = Setting(nameof(OnnxModel)), model = Setting(nameof(Model)), imageSize = Setting(nameof(ImageSize));
        if (engine.Info.Model is { } stored && stored.Name != Model.Name)
            throw new InvalidSettingException(onnxModel, names =>
                $"{names.Given(onnxModel, path)}: a {stored.Name} model; the benchmark's model is {Model.Name} (give {names.Name(model)} for it)");
        int? side;
        try
        {
            side = engine.FixedImageSide();   // null: exported with a dynamic side, which takes the benchmark's
            engine.RequireFits(Model);
        }
        catch (ArgumentException e) { throw new InvalidSettingException(onnxModel, names => $"{names.Given(onnxModel, path)}: {e.Message}", e); }
        // every row is timed at batch 1, then at Batch: a graph of one fixed batch ran its first rows and then ended the
        // process at the second batch, the timings lost (an export audit of session 48)
        if (engine.InputShape is [> 0 and var exactly, ..] && (exactly != 1 || Batch != 1))
        {
            string batch = Setting(nameof(Batch));
            throw new InvalidSettingException(onnxModel, names => $"{names.Given(onnxModel, path)} {OnnxRuntimeEngine.ExactBatch(exactly)}; the benchmark " +
                $"times batch 1, then batch {Batch}" + (exactly == 1 ? $" (give {names.Given(batch, 1)})" : " (export it with a dynamic batch)"));
        }
        if (side is not null && side != ImageSize)
            throw new InvalidSettingException(onnxModel, names =>
                $"{names.Given(onnxModel, path)}: exported for {side}x{side}; the benchmark runs {ImageSize} (give {names.Given(imageSize, side)})");
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> for values no run can use, and <see cref="NotSupportedException"/> for
    /// stream devices this process cannot use, before anything is timed.
    /// </summary>
    public void Validate()
    {
        foreach (var (member, value, least) in new[] { (nameof(Batch), Batch, 1), (nameof(Rounds), Rounds, 1),
                     (nameof(ThroughputRounds), ThroughputRounds, 1), (nameof(Warmup), Warmup, 0), (nameof(Threads), Threads, 1) })
            if (value < least)
            {
                string setting = Setting(member);   // one refusal per setting, named, so a front end can word it with its option
                throw new InvalidSettingException(setting, names => $"{names.Given(setting, value)}: must be >= {least}");
            }
        Model.CheckImageSize(ImageSize, ImageSize);
        foreach (var device in StreamDevices ?? []) MultiDeviceStreamExecutor.CheckAvailable(device);
        // the executor's own check came after the model was built and escaped as a stack trace
        if (StreamDevices is { } streamDevices && streamDevices.Count != Model.Streams)
            throw new ArgumentException($"{Model.Name} has {Model.Streams} streams; got {streamDevices.Count} stream device(s): one per stream");
        bool wantsAuthorsParNet = Only is null || Only.Contains("pytorch-unfused") || Only.Contains("pytorch-fused");
        if (PyTorch is not null && wantsAuthorsParNet && PyTorchReference.WhyUnsupported(Model) is string why)
            throw new ArgumentException($"PyTorch reference: {why}");
        if (OnnxModel is not null) CheckOnnxModel(OnnxModel);
        if (Only is not null) CheckRowsChosen(Only);
        RequireFits();
        // for every run, not only one with rows chosen: a folder without the authors' code was found by the child after the
        // model was built, fused, exported and calibrated, exit 1 where the same input with rows chosen was refused (bench audit)
        PyTorch?.RequireUsable();   // last: what the settings ask of the model is the first thing to hear
    }

    /// <summary>Refuses, with the numbers, an image size or batch whose forward pass surely cannot fit in this machine's
    /// memory (<see cref="ForwardMemory.LayerOutputsAliveAtOnce"/>, as train-bench's forward-only check): bench found out only
    /// after its batch-1 rounds, or grew towards the OOM killer of a shared host (bench audit). The model is built to trace it.</summary>
    void RequireFits()
    {
        ForwardMemory outputs;
        using (var model = RandomState.Kept(() => ModelFactory.Create(Model)))
            outputs = ForwardMemory.LayerOutputsAliveAtOnce(model.Trace(ImageSize, ImageSize));
        foreach (var (member, batch) in new[] { (nameof(ImageSize), 1), (nameof(Batch), Batch) })   // batch 1 first: every run times it
        {
            string setting = Setting(member);
            object given = member == nameof(Batch) ? Batch : ImageSize;
            try { outputs.RequireBatchFits(batch, model: Model.Name); }
            catch (ArgumentException e) { throw new InvalidSettingException(setting, names => $"{names.Given(setting, given)}: {e.Message}", e); }
        }
    }

    /// <summary>Why the row <paramref name="key"/> cannot be timed for this model on this machine; null when it can. A row
    /// asked for by name that could not run was left out without a word: an empty report, and success (bench audit).</summary>
    public string? WhyRowUnavailable(string key)
    {
        bool timesFusedNetwork = key != "onnx-file" && (key.StartsWith("fused", StringComparison.Ordinal) || key.StartsWith("onnx-", StringComparison.Ordinal));
        if (timesFusedNetwork && Model.BlockType != BlockType.RepVggSse)
            return $"the {key} row times the fused network, and {Model.Name}'s {Model.BlockType} blocks do not fuse";
        if (key == "fused-winograd" && !WinogradConvolution.IsSupported) return $"the {key} row: {WinogradConvolution.UnsupportedReason}";
        return null;
    }

    /// <summary>The rows chosen by name (<see cref="Only"/>): known, each with the settings it runs on, none a setting's only use.</summary>
    void CheckRowsChosen(IReadOnlySet<string> chosen)
    {
        if (chosen.Count == 0)   // e.g. --only "," : no row to time, and an empty report that looked like a run
            throw new ArgumentException($"no variant chosen; known: {string.Join(", ", InferenceBenchmark.VariantKeys)}");
        var unknown = chosen.Except(InferenceBenchmark.VariantKeys).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"unknown variant(s) {string.Join(", ", unknown)}; known: {string.Join(", ", InferenceBenchmark.VariantKeys)}");
        // and a setting for rows left out was taken and not used, without a word (bench audit, session 41)
        foreach (var (member, given, rows) in new (string, bool, IReadOnlyList<string>)[]
                 {
                     (nameof(StreamDevices), StreamDevices is not null, ["fused-devices"]), (nameof(OnnxModel), OnnxModel is not null, ["onnx-file"]),
                     (nameof(CudaDevices), CudaDevices is not null, ["onnx-cuda-streams"]), (nameof(PyTorch), PyTorch is not null, PyTorchReference.Keys),
                 })
            if (given && !rows.Any(chosen.Contains))
            {
                string setting = Setting(member), only = Setting(nameof(Only));
                string what = rows.Count == 1 ? $"the {rows[0]} row" : $"the rows {string.Join(", ", rows)}";
                throw new InvalidSettingException(setting, names =>
                    $"{names.Name(setting)} is for {what}, which the rows chosen ({names.Name(only)}) leave out: add {(rows.Count == 1 ? "it" : "one")} " +
                    $"to {names.Name(only)}, or leave {names.Name(setting)} out");
            }
        // a row asked for by name must not silently go missing for want of its option
        if (chosen.Contains("fused-devices") && StreamDevices is null)
            throw NeedsSetting("the fused-devices row needs stream devices", Setting(nameof(StreamDevices)), "LIST");
        if (chosen.Contains("onnx-file") && OnnxModel is null)
            throw NeedsSetting("the onnx-file row needs an exported model", Setting(nameof(OnnxModel)), "FILE");
        foreach (var key in InferenceBenchmark.CudaKeys.Where(chosen.Contains))
        {
            try { foreach (int device in CudaDevices ?? [0]) OnnxRuntimeOptions.CheckCuda(device); }
            catch (NotSupportedException e) { throw new ArgumentException($"the {key} row: {e.Message}", e); }
        }
        if (CudaDevices is { } devices && devices.Count != Model.Streams)
            throw new ArgumentException($"{Model.Name} has {Model.Streams} streams; got {devices.Count} CUDA device(s): one per stream");
        if (chosen.Any(k => k.StartsWith("pytorch-", StringComparison.Ordinal)) && PyTorch is null)
            throw PyTorchReference.NeedsAuthorsCode("the pytorch-* rows need the authors' code");
        if (chosen.Select(WhyRowUnavailable).FirstOrDefault(why => why is not null) is string unavailable)
        {
            string only = Setting(nameof(Only));
            throw new InvalidSettingException(only, names => $"{unavailable}: leave it out of {names.Name(only)}");
        }
    }

    static string Setting(string member) => SettingNames.Of(nameof(InferenceBenchmarkOptions), member);

    /// <summary>"the onnx-file row needs an exported model (InferenceBenchmarkOptions.OnnxModel = FILE)": a row asked for without
    /// the setting it runs on; <paramref name="placeholder"/> stands for the value.</summary>
    static InvalidSettingException NeedsSetting(string what, string setting, string placeholder) =>
        new(setting, names => $"{what} ({names.Given(setting, placeholder)})");
}
