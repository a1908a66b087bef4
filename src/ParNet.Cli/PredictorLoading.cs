using ParNet.Data;
using ParNet.Export;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Runtime;

namespace ParNet.Cli;

/// <summary>
/// The model of `parnet predict` and `parnet serve`: weights (or an exported .onnx) opened behind an engine, and the
/// preprocessing and class names that go with them; the library's refusals made user errors.
/// </summary>
public static class PredictorLoading
{
    public const string EngineDescription =
        "torch, torch-winograd (its 3x3 stride-1 convs as Winograd F(4x4, 3x3): ParNet-S 1.4-1.6x torch's speed on a Zen 4, " +
        "also with its kernels held to AVX2; not yet measured on a real Zen 3, RESULTS.md), " +
        "onnxruntime (weights are exported in memory first) or onnxruntime-cuda (the same on GPU 0, in a build made with " +
        "-p:OnnxRuntimeGpu=true) (default: onnxruntime for an .onnx file, else torch)";

    public static readonly string[] Engines = ["torch", "torch-winograd", "onnxruntime", "onnxruntime-cuda"];

    /// <summary>The engine asked for, or the default for these weights; a UsageException for an unknown or impossible one.</summary>
    public static string Engine(string? weights, string? requested)
    {
        bool onnxFile = weights is not null && IsOnnx(weights);
        string engine = requested ?? (onnxFile ? "onnxruntime" : "torch");
        if (!Engines.Contains(engine)) throw new UsageException($"--engine {engine}: use {string.Join(", ", Engines)}");
        if (onnxFile && engine.StartsWith("torch")) throw new UsageException("an .onnx file runs with --engine onnxruntime or onnxruntime-cuda");
        if (engine == "torch-winograd" && !WinogradConvolution.IsSupported)
            throw new UsageException($"--engine torch-winograd: {WinogradConvolution.UnsupportedReason}; use --engine torch");
        return engine;
    }

    /// <summary>A warning for torch-winograd on a model none of whose convs it computes (widths not multiples of 8): it then
    /// runs as torch.</summary>
    public static void WarnIfNoWinograd(ImagePredictor predictor, TextWriter stderr, string command)
    {
        if (predictor.Winograd is { } plan)
            WarnIfNothingPlanned(plan, predictor.Config.Name, stderr, command, "--engine torch-winograd", "it runs as --engine torch");
    }

    /// <summary>The warning of a Winograd plan that holds no conv of the model (predict, serve, eval).</summary>
    public static void WarnIfNothingPlanned(WinogradPlan plan, string model, TextWriter stderr, string command, string option, string instead)
    {
        if (plan.Convolutions == 0)
            stderr.WriteLine($"parnet {command}: warning: {option}: no conv of {model} is 3x3, stride 1, with channels per group a " +
                             $"multiple of {WinogradConvolution.Lanes}; {instead}");
    }

    static bool IsOnnx(string weights) => weights.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// One model instance; <paramref name="size"/> fixes the side of an in-memory ONNX export (default: the stored one).
    /// No <paramref name="weights"/>: <paramref name="config"/> randomly initialized (the caller warns; its answers are
    /// meaningless, its speed is not).
    /// </summary>
    public static ImagePredictor Open(string? weights, ModelConfig? config, string engine, NetworkForm form, bool ema, int? size,
                                      OnnxRuntimeOptions? onnx = null)
    {
        if (engine == "onnxruntime-cuda")
        {
            try { OnnxRuntimeOptions.CheckCuda(0); }
            catch (NotSupportedException e) { throw new UsageException($"--engine onnxruntime-cuda: {e.Message}"); }
            onnx = (onnx ?? new()) with { CudaDevice = 0 };
        }
        if (weights is not null && IsOnnx(weights))
        {
            if (ema) throw new UsageException("--ema picks a training checkpoint's EMA weights; an .onnx file holds one set");
            // the file's graph is what runs: asking for the training form would silently get whatever was exported
            if (form == NetworkForm.Training)
                throw new UsageException("--unfused keeps trained weights in their training form; an .onnx file runs in the form it was " +
                                         "exported in (export the weights with --unfused for the training form)");
            ImagePredictor predictor;
            try { predictor = ImagePredictor.FromOnnx(weights, config, onnx); }
            catch (InvalidSettingException e) { throw new UsageException(OptionNames.Worded(e)); }   // no --model/--config, and none stored
            if (form == NetworkForm.Fused && predictor.Info.Fused == false)   // as silently: the training form would run
            {
                predictor.Dispose();
                throw new UsageException(predictor.Config.BlockType == BlockType.RepVggSse
                    ? "--fused: this .onnx file holds the training form (exported with --unfused); an .onnx file runs " +
                      "in the form it was exported in (export the weights without --unfused for the fused form)"
                    : $"--fused: {predictor.Config.Name} is a {predictor.Config.BlockType} network, which has no fused form");
            }
            return predictor;
        }
        var (model, info) = weights is not null ? Loaded(weights, config, form, ema) : WeightsLoading.RandomlyInitialized(config, form);
        if (engine == "torch") return ImagePredictor.ForTorch(model, info);
        if (engine == "torch-winograd") return ImagePredictor.ForTorchWinograd(model, info);
        using (model)
        {
            int side = size ?? info.ImageSize ?? model.Config.DefaultImageSize;
            UsageException.Wrap(() => model.CheckImageSize(side, side), "--image-size");
            return ImagePredictor.ForOnnxRuntime(model, info, side, onnx);
        }
    }

    static (ImageClassifier, DeploymentInfo) Loaded(string weights, ModelConfig? config, NetworkForm form, bool ema)
    {
        var loaded = WeightsLoading.Load(weights, config, form, ema);
        return (loaded.Model, loaded.Info);
    }

    /// <summary>
    /// <paramref name="info"/> with the class names and statistics of the data set the user names (--dataset of predict
    /// and export), which must fit <paramref name="model"/>: its class count, and its channels (a grey data set feeds an
    /// RGB model, replicated as in training; a colour one does not feed a grey model). A folder data set keeps the class
    /// names stored with the weights: a folder's classes are its subfolders' names, which nothing but the weights knows.
    /// </summary>
    public static DeploymentInfo WithDataset(DeploymentInfo info, ModelConfig model, string dataset)
    {
        if (DeploymentInfo.KnownDataset(dataset) is null && !DataPipelines.IsFolderLayout(dataset))
            throw new UsageException($"--dataset {dataset}: unknown; known: {string.Join(", ", DeploymentInfo.KnownDatasetNames)}, folder");
        var folderNames = DeploymentInfo.KnownDataset(dataset) is null ? info.ClassNames : null;
        try { info = (info with { Dataset = dataset, ClassNames = folderNames, Mean = null, Std = null }).CompletedFor(model); }
        catch (ArgumentException e) { throw new UsageException($"--dataset {dataset}: {e.Message}"); }
        if (info.Mean is { Length: > 1 } mean && mean.Length != model.InChannels)
            throw new UsageException($"--dataset {dataset} has {mean.Length}-channel images; the model takes {model.InChannels}");
        return info;
    }

    /// <summary>
    /// The preprocessing of <paramref name="predictor"/>'s inputs and its class names: from the stored metadata, or from the
    /// data set the user names (<paramref name="dataset"/>); the side from the ONNX graph, <paramref name="size"/>, the
    /// metadata or the model's natural size, in that order.
    /// </summary>
    public static (DeploymentPreprocessing Preprocessing, IReadOnlyList<string> ClassNames) Preprocessing(
        ImagePredictor predictor, string? dataset, int? size)
    {
        var info = dataset is null ? predictor.Info : WithDataset(predictor.Info, predictor.Config, dataset);
        int side = predictor.FixedSize ?? size ?? info.ImageSize ?? predictor.Config.DefaultImageSize;
        if (size is int requested && requested != side)
            throw new UsageException($"--image-size {requested}: the ONNX model was exported for {side}x{side}");
        int multiple = predictor.Config.InputSizeMultiple;
        if (side < multiple || side % multiple != 0)
            throw new UsageException($"image size {side}: {predictor.Config.Name} needs a multiple of {multiple}");
        UsageException.Wrap(() => predictor.CheckImageFits(side), $"image size {side}");
        return (new DeploymentPreprocessing(predictor.Config, info, side), info.ClassNames ?? []);
    }
}
