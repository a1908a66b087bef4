using ParNet.Export;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Serving;

namespace ParNet.Cli;

/// <summary>
/// The model of `parnet predict` and `parnet serve`: --engine and the options of the weights as a
/// <see cref="PredictorSource"/>, which opens them; its refusals made user errors, worded by option (<see cref="OptionNames"/>).
/// </summary>
public static class PredictorLoading
{
    public const string EngineDescription =
        "torch, torch-winograd (its 3x3 stride-1 convs as Winograd F(4x4, 3x3): ParNet-S 1.4-1.6x torch's speed on a Zen 4, " +
        "also with its kernels held to AVX2; not yet measured on a real Zen 3, RESULTS.md), " +
        "onnxruntime (weights are exported in memory first) or onnxruntime-cuda (the same on GPU 0, in a build made with " +
        "-p:OnnxRuntimeGpu=true) (default: onnxruntime for an .onnx file, else torch)";

    /// <summary>--engine's values: the library's engine names (<see cref="PredictorEngines"/>).</summary>
    public static IReadOnlyList<string> Engines => PredictorEngines.Names;

    static PredictorEngine EngineNamed(string name) =>
        PredictorEngines.Of(name) ?? throw new UsageException($"--engine {name}: use {string.Join(", ", Engines)}");

    /// <summary>The engine asked for, or the default for these weights; a UsageException for an unknown or impossible one.</summary>
    public static PredictorEngine Engine(string? weights, string? requested)
    {
        var source = new PredictorSource { Weights = weights, Engine = requested is null ? null : EngineNamed(requested) };
        UsageException.WrapSettings(source.CheckEngine);
        return source.EngineToRun;
    }

    /// <summary>The options of the weights as the library's source of a predictor.</summary>
    public static PredictorSource Source(string? weights, ModelConfig? config, PredictorEngine engine, NetworkForm form, bool ema, int? size,
                                         OnnxRuntimeOptions? onnx = null) =>
        new()
        {
            Weights = weights, Model = config, Engine = engine, Form = form, WeightsPick = WeightsLoading.Pick(ema),
            ImageSize = size, OnnxRuntime = onnx,
        };

    /// <summary>
    /// One model instance (<see cref="PredictorSource.Open"/>); <paramref name="size"/> fixes the side of an in-memory ONNX
    /// export (default: the stored one). No <paramref name="weights"/>: <paramref name="config"/> randomly initialized (the
    /// caller warns; its answers are meaningless, its speed is not).
    /// </summary>
    public static ImagePredictor Open(string? weights, ModelConfig? config, PredictorEngine engine, NetworkForm form, bool ema, int? size,
                                      OnnxRuntimeOptions? onnx = null) =>
        UsageException.WrapSettings(Source(weights, config, engine, form, ema, size, onnx).Open);

    /// <summary>`--threads` of predict and serve: the threads of one forward pass, in either engine.</summary>
    public static System.CommandLine.Option<int?> ThreadsOption(string more = "") => CliOption.Int("--threads",
        "threads of one forward pass (torch.set_num_threads, ONNX Runtime's intra-op threads) (default: the engines' own, one per core" + more + ")");

    /// <summary>Applies a `--threads` (<see cref="ThreadsOption"/>) given: torch's count now, ONNX Runtime's options to open
    /// the engine with (null: its own).</summary>
    public static OnnxRuntimeOptions? ApplyThreads(int? threads, string command, TextWriter stderr)
    {
        CliOption.CheckThreads(threads, command, stderr);
        if (threads is not int n) return null;
        TorchSharp.torch.set_num_threads(n);
        return new OnnxRuntimeOptions { IntraOpThreads = n };
    }

    /// <summary>`parnet serve`'s model: <paramref name="workers"/> instances of <paramref name="source"/>, and the preprocessing
    /// of <paramref name="dataset"/> or of the stored metadata (<see cref="ServedModel.Open"/>).</summary>
    public static ServedModel Serve(PredictorSource source, int workers, string? dataset) =>
        UsageException.WrapSettings(() => ServedModel.Open(source, workers, dataset));

    /// <summary>
    /// A warning when neither the weights nor --dataset give the data set or its statistics (<see cref="DeploymentInfo.StatisticsGuessed"/>):
    /// the normalization is then a guess and class names, unless stored, "class N". A run's checkpoint copied out of its run
    /// folder with a model.json beside it was predicted and exported that way without a word (walk of session 34); since
    /// session 36 a run's weights files store the run's data set themselves.
    /// </summary>
    public static void WarnIfStatisticsGuessed(bool guessed, ModelConfig config, TextWriter stderr, string command)
    {
        if (!guessed) return;
        string statistics = config.InChannels == 1 ? "mean 0.5 and std 0.5" : "ImageNet's mean and std";
        stderr.WriteLine($"parnet {command}: warning: no data set or normalization is stored with the weights or given: images are " +
                         $"normalized with {statistics}, a guess, and classes without stored names are \"class N\"; give --dataset NAME " +
                         $"({string.Join(", ", DeploymentInfo.KnownDatasetNames)}, folder), or weights that store theirs (a run's checkpoint " +
                         "does; an older one that does not, in its run folder or `parnet convert` of it there)");
    }

    /// <summary>A warning for torch-winograd on a model none of whose convs it computes (widths not multiples of 8): it then
    /// runs as torch.</summary>
    public static void WarnIfNoWinograd(ImagePredictor predictor, TextWriter stderr, string command) =>
        WarnIfNoWinograd(predictor.Winograd?.Convolutions, predictor.Config.Name, stderr, command);

    /// <summary>As <see cref="WarnIfNoWinograd(ImagePredictor, TextWriter, string)"/>, of a served model.</summary>
    public static void WarnIfNoWinograd(ServedModel model, TextWriter stderr, string command)
    {
        if (model.Config is { } config) WarnIfNoWinograd(model.WinogradConvolutions, config.Name, stderr, command);
    }

    static void WarnIfNoWinograd(int? convolutions, string model, TextWriter stderr, string command)
    {
        if (convolutions is int planned) WarnIfNothingPlanned(planned, model, stderr, command, "--engine torch-winograd", "it runs as --engine torch");
    }

    /// <summary>The warning of a Winograd plan that holds no conv of the model (predict, serve, eval).</summary>
    public static void WarnIfNothingPlanned(int convolutions, string model, TextWriter stderr, string command, string option, string instead)
    {
        if (convolutions == 0)
            stderr.WriteLine($"parnet {command}: warning: {option}: no conv of {model} is 3x3, stride 1, with channels per group a " +
                             $"multiple of {WinogradConvolution.Lanes}; {instead}");
    }

    /// <summary><paramref name="info"/> with the class names and statistics of --dataset (<see cref="DeploymentInfo.WithDataset"/>).</summary>
    public static DeploymentInfo WithDataset(DeploymentInfo info, ModelConfig model, string dataset) =>
        UsageException.WrapSettings(() => info.WithDataset(model, dataset));

    /// <summary>The preprocessing of <paramref name="predictor"/>'s inputs and its class names, by --dataset and --image-size
    /// (<see cref="ImagePredictor.Preprocessing"/>).</summary>
    public static (DeploymentPreprocessing Preprocessing, IReadOnlyList<string> ClassNames) Preprocessing(
        ImagePredictor predictor, string? dataset, int? size) =>
        UsageException.WrapSettings(() => predictor.Preprocessing(dataset, size));
}
