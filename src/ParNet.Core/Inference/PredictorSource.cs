using ParNet.Export;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Weights;

namespace ParNet.Inference;

/// <summary>What runs an <see cref="ImagePredictor"/>'s forward pass.</summary>
public enum PredictorEngine
{
    /// <summary>TorchSharp (<see cref="ImagePredictor.ForTorch"/>).</summary>
    Torch,
    /// <summary>TorchSharp with the 3x3 stride-1 convs as Winograd F(4x4, 3x3) (<see cref="ImagePredictor.ForTorchWinograd"/>);
    /// needs AVX2 and FMA (<see cref="WinogradConvolution.IsSupported"/>).</summary>
    TorchWinograd,
    /// <summary>ONNX Runtime on the CPU: an .onnx file, or weights exported in memory first (<see cref="ImagePredictor.ForOnnxRuntime"/>).</summary>
    OnnxRuntime,
    /// <summary>As <see cref="OnnxRuntime"/>, on CUDA device 0 (a build with ONNX Runtime's CUDA execution provider, <see cref="OnnxRuntimeOptions.CudaDevice"/>).</summary>
    OnnxRuntimeCuda,
}

/// <summary>The engines' names, as the CLI's --engine takes them and a server's log and /readyz print them.</summary>
public static class PredictorEngines
{
    static readonly (string Name, PredictorEngine Engine)[] Named =
    [
        ("torch", PredictorEngine.Torch), ("torch-winograd", PredictorEngine.TorchWinograd),
        ("onnxruntime", PredictorEngine.OnnxRuntime), ("onnxruntime-cuda", PredictorEngine.OnnxRuntimeCuda),
    ];

    /// <summary>Every engine's name, in the enum's order.</summary>
    public static IReadOnlyList<string> Names { get; } = Named.Select(e => e.Name).ToArray();

    public static string Name(PredictorEngine engine) => Named.First(e => e.Engine == engine).Name;

    /// <summary>The engine of that name; null for a name of none.</summary>
    public static PredictorEngine? Of(string name) =>
        Named.FirstOrDefault(e => e.Name == name) is { Name: not null } named ? named.Engine : null;
}

/// <summary>
/// Weights (or an exported .onnx file) and the engine to run them with: what <see cref="Open"/> turns into an
/// <see cref="ImagePredictor"/>, as `parnet predict` and `parnet serve` do. Impossible combinations (an .onnx file under a
/// torch engine, EMA weights or the training form of an .onnx file, torch-winograd on a CPU without AVX2) are refused with
/// <see cref="InvalidSettingException"/>s naming the property, before anything is read.
/// </summary>
public sealed record PredictorSource
{
    /// <summary>Trained or fused weights (as <see cref="ClassifierLoader"/> reads them) or an exported .onnx file; null:
    /// <see cref="Model"/> randomly initialized (<see cref="ClassifierLoader.RandomlyInitialized(ModelConfig, NetworkForm)"/>:
    /// meaningless answers, real speed).</summary>
    public string? Weights { get; init; }
    /// <summary>The model configuration; null: the one stored with <see cref="Weights"/>.</summary>
    public ModelConfig? Model { get; init; }
    /// <summary>null: <see cref="DefaultEngine"/> of <see cref="Weights"/>.</summary>
    public PredictorEngine? Engine { get; init; }
    /// <summary>The form of the network (fused where it can be, by default); an .onnx file runs in the form it was exported
    /// in, which <see cref="NetworkForm.Fused"/> then requires and <see cref="NetworkForm.Training"/> cannot give.</summary>
    public NetworkForm Form { get; init; } = NetworkForm.FusedWhereFusable;
    /// <summary>A training checkpoint's model or EMA weights; an .onnx file holds one set.</summary>
    public CheckpointWeights WeightsPick { get; init; } = CheckpointWeights.Model;
    /// <summary>The side of the in-memory ONNX export of weights under the ONNX Runtime engines (default: the stored one,
    /// else <see cref="DeploymentInfo.SideFor"/>, else the model's natural size); the torch engines take any valid side, an .onnx file its own.</summary>
    public int? ImageSize { get; init; }
    /// <summary>ONNX Runtime's options (threads, ...) for the ONNX Runtime engines; <see cref="PredictorEngine.OnnxRuntimeCuda"/> sets the device.</summary>
    public OnnxRuntimeOptions? OnnxRuntime { get; init; }

    static string Setting(string property) => SettingNames.Of(nameof(PredictorSource), property);

    /// <summary>The engine that runs: <see cref="Engine"/>, or the default for <see cref="Weights"/>.</summary>
    public PredictorEngine EngineToRun => Engine ?? DefaultEngine(Weights);

    /// <summary>OnnxRuntime for an .onnx file, Torch otherwise (other weights, or none).</summary>
    public static PredictorEngine DefaultEngine(string? weights) => weights is not null && IsOnnxFile(weights) ? PredictorEngine.OnnxRuntime : PredictorEngine.Torch;

    /// <summary>Whether <paramref name="path"/> names an exported ONNX graph (by its extension, as every command tells them).</summary>
    public static bool IsOnnxFile(string path) => path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);

    bool OnnxFile => Weights is not null && IsOnnxFile(Weights);

    /// <summary>Refuses an engine that cannot run <see cref="Weights"/> or cannot run here (torch-winograd without AVX2/FMA),
    /// reading nothing: for a front end that wants the refusal before other work. <see cref="Open"/> checks it too.</summary>
    public void CheckEngine()
    {
        var engine = EngineToRun;
        string setting = Setting(nameof(Engine));
        if (OnnxFile && engine is PredictorEngine.Torch or PredictorEngine.TorchWinograd)
            throw new InvalidSettingException(setting, n =>
                $"an .onnx file runs with {n.Given(setting, PredictorEngine.OnnxRuntime)} or {n.Value(setting, PredictorEngine.OnnxRuntimeCuda)}");
        if (engine == PredictorEngine.TorchWinograd && !WinogradConvolution.IsSupported)
            throw new InvalidSettingException(setting, n =>
                $"{n.Given(setting, engine)}: {WinogradConvolution.UnsupportedReason}; use {n.Given(setting, PredictorEngine.Torch)}");
    }

    /// <summary>
    /// The predictor: weights loaded (<see cref="ClassifierLoader"/>) and run by the engine, or the .onnx file opened.
    /// <see cref="InvalidSettingException"/> for an impossible combination (<see cref="CheckEngine"/>, above), no CUDA for
    /// <see cref="PredictorEngine.OnnxRuntimeCuda"/>, no model given or stored, an export side the model refuses, or
    /// <see cref="NetworkForm.Fused"/> for a network without a fused form; <see cref="InvalidDataException"/> for files that
    /// do not hold what they should. A torch-winograd predictor whose plan holds none of the model's convs
    /// (<see cref="WinogradPlan.Convolutions"/> 0: widths not multiples of <see cref="WinogradConvolution.Lanes"/>) runs as
    /// torch: its <see cref="ImagePredictor.Winograd"/> says so.
    /// </summary>
    public ImagePredictor Open()
    {
        CheckEngine();
        var engine = EngineToRun;
        var onnx = OnnxRuntime;
        if (engine == PredictorEngine.OnnxRuntimeCuda)
        {
            string setting = Setting(nameof(Engine));
            try { OnnxRuntimeOptions.CheckCuda(0); }
            catch (NotSupportedException e) { throw new InvalidSettingException(setting, n => $"{n.Given(setting, engine)}: {e.Message}", e); }
            onnx = (onnx ?? new()) with { CudaDevice = 0 };
        }
        if (OnnxFile) return OpenOnnxFile(onnx);
        var (model, info) = Load();   // ClassifierLoader leaves the caller's random sequence as it was
        if (engine == PredictorEngine.Torch) return ImagePredictor.ForTorch(model, info);
        if (engine == PredictorEngine.TorchWinograd) return ImagePredictor.ForTorchWinograd(model, info);
        using (model)
        {
            int side = ImageSize ?? info.SideFor(model.Config) ?? model.Config.DefaultImageSize;
            string setting = Setting(nameof(ImageSize));
            try { model.CheckImageSize(side, side); }
            catch (ArgumentException e) { throw new InvalidSettingException(setting, n => $"{n.Name(setting)}: {e.Message}", e); }
            return ImagePredictor.ForOnnxRuntime(model, info, side, onnx);
        }
    }

    (ImageClassifier Model, DeploymentInfo Info) Load()
    {
        if (Weights is null && Model is null)
        {
            string weights = Setting(nameof(Weights)), model = Setting(nameof(Model));
            throw new InvalidSettingException(model, n => $"without {n.Name(weights)}, give {n.Name(model)} (the model to initialize randomly)");
        }
        try
        {
            if (Weights is null) return ClassifierLoader.RandomlyInitialized(Model!, Form);
            var loaded = ClassifierLoader.LoadWeights(Weights, Model, Form, WeightsPick);
            return (loaded.Model, loaded.Info);
        }
        catch (InvalidSettingException e) when (e.ParamName == ClassifierLoader.FormSetting && Form == NetworkForm.Fused)   // the loader's form is this Form:
        {                                                                                      // named so, as for an .onnx file below
            string form = Setting(nameof(Form));
            var why = e.InnerException ?? e;
            throw new InvalidSettingException(form, n => $"{n.Given(form, NetworkForm.Fused)}: {why.Message}", why);
        }
    }

    ImagePredictor OpenOnnxFile(OnnxRuntimeOptions? onnx)
    {
        string pick = Setting(nameof(WeightsPick)), form = Setting(nameof(Form)), exported = ClassifierLoader.FormSetting;
        if (WeightsPick == CheckpointWeights.Ema)
            throw new InvalidSettingException(pick, n => $"{n.Given(pick, CheckpointWeights.Ema)} picks a training checkpoint's EMA weights; an .onnx file holds one set");
        // the file's graph is what runs: asking for the training form would silently get whatever was exported
        if (Form == NetworkForm.Training)
            throw new InvalidSettingException(form, n => $"{n.Given(form, NetworkForm.Training)} keeps trained weights in their training form; an .onnx " +
                $"file runs in the form it was exported in (export the weights with {n.Given(exported, NetworkForm.Training)} for the training form)");
        var predictor = ImagePredictor.FromOnnx(Weights!, Model, onnx);
        if (Form != NetworkForm.Fused || predictor.Info.Fused != false) return predictor;
        var config = predictor.Config;
        predictor.Dispose();   // as silently: the training form would run
        throw new InvalidSettingException(form, config.BlockType == BlockType.RepVggSse
            ? n => $"{n.Given(form, NetworkForm.Fused)}: this .onnx file holds the training form (exported with {n.Given(exported, NetworkForm.Training)}); " +
                   $"an .onnx file runs in the form it was exported in (export the weights without {n.Given(exported, NetworkForm.Training)} for the fused form)"
            : n => $"{n.Given(form, NetworkForm.Fused)}: {config.Name} is a {config.BlockType} network, which has no fused form");
    }
}
