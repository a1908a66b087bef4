using ParNet.Models.Tracing;
using ParNet.Data;
using ParNet.Export;
using ParNet.Models;
using ParNet.Runtime;
using static TorchSharp.torch;

namespace ParNet.Inference;

/// <summary>
/// One deployed classifier behind either engine (TorchSharp or ONNX Runtime): preprocessed images in, class
/// probabilities out, one image or a batch at a time. What `parnet predict` and `parnet serve` run. Threads may predict
/// at once (each engine's forward pass is reentrant; a server still gives each worker its own instance, for its threads'
/// sake); Dispose waits for the predictions inside, and a prediction after it is an ObjectDisposedException.
/// </summary>
public sealed partial class ImagePredictor : IDisposable
{
    readonly ImageClassifier? _torch;
    readonly WinogradPlan? _winograd;
    readonly OnnxRuntimeEngine? _onnx;
    readonly Func<int, ForwardMemory>? _onnxMemory;   // the ONNX graph's memory per image at a side, worked out only when asked
    readonly DisposeGuard _guard;

    ImagePredictor(ModelConfig config, DeploymentInfo info, ImageClassifier? torch, OnnxRuntimeEngine? onnx, int? fixedSize,
                   WinogradPlan? winograd = null, Func<int, ForwardMemory>? onnxMemory = null)
    {
        _onnxMemory = onnxMemory;
        _guard = new DisposeGuard($"the predictor of {config.Name}");
        Config = config;
        Info = info;
        _torch = torch;
        _winograd = winograd;
        _onnx = onnx;
        FixedSize = fixedSize;
    }

    public ModelConfig Config { get; }
    /// <summary>Class names, data set and preprocessing of the model (completed: names and statistics filled in).</summary>
    public DeploymentInfo Info { get; }
    /// <summary>The side an ONNX graph is fixed to; null for TorchSharp, which takes any valid size, and for a graph exported
    /// with a dynamic height and width (as torch.onnx.export's dynamic_axes can make them).</summary>
    public int? FixedSize { get; }
    /// <summary>The batch an ONNX graph exported without a dynamic batch axis takes, exactly; null when any batch goes.</summary>
    public int? FixedBatch => _onnx?.InputShape is [> 0 and var batch, ..] ? (int)batch : null;
    /// <summary>The engine that runs the forward pass: a torch-winograd predictor whose plan holds none of the model's
    /// convs runs as <see cref="PredictorEngine.Torch"/> and says so.</summary>
    public PredictorEngine Engine => _onnx is not null ? (_onnx.Options.CudaDevice is null ? PredictorEngine.OnnxRuntime : PredictorEngine.OnnxRuntimeCuda)
        : _winograd is { Convolutions: > 0 } ? PredictorEngine.TorchWinograd : PredictorEngine.Torch;

    /// <summary><see cref="Engine"/>'s name (<see cref="PredictorEngines.Name"/>), with the CUDA device when it is not 0
    /// ("onnxruntime-cuda:1"): what a server's log and /readyz say the model runs on.</summary>
    public string EngineName => PredictorEngines.Name(Engine) + (_onnx?.Options.CudaDevice is int d and not 0 ? $":{d}" : "");

    /// <summary>How an int8 ONNX model was quantized (`parnet export --int8`); null for float32, the torch engines' precision.</summary>
    public string? Quantization => _onnx?.Quantization;

    /// <summary>The Winograd plan of the torch-winograd engine (its convs and calls); null for the other engines.</summary>
    public WinogradPlan? Winograd => _winograd;

    /// <summary>TorchSharp runs <paramref name="model"/>, put in eval mode (running statistics, no dropout); the predictor owns
    /// and disposes it. Its weights are
    /// re-laid out channels_last and so is every input: oneDNN then runs its NHWC kernels, with no reorder to and from its
    /// blocked layout around each convolution (ParNet-S at 224, batch 1, against the NCHW forms on Zen 3: 1.18-1.23x
    /// unfused, 1.12-1.14x fused; RESULTS.md, "channels_last for TorchSharp inference").</summary>
    public static ImagePredictor ForTorch(ImageClassifier model, DeploymentInfo info)
    {
        ArgumentNullException.ThrowIfNull(model);
        DeploymentInfo completed;
        try { completed = (info ?? throw new ArgumentNullException(nameof(info))).CompletedFor(model.Config); }
        catch { model.Dispose(); throw; }   // as ForTorchWinograd: the predictor owns the model
        model.eval();
        MemoryFormat.ToChannelsLast(model);
        return new(model.Config, completed, model, null, null);
    }

    /// <summary>As <see cref="ForTorch"/>, with the model's 3x3 stride-1 convs as Winograd F(4x4, 3x3)
    /// (<see cref="WinogradPlan"/>): fewer multiply-adds, for CPUs whose convolution kernels are AVX2 (RESULTS.md,
    /// "Winograd"). PlatformNotSupportedException without AVX2/FMA.</summary>
    public static ImagePredictor ForTorchWinograd(ImageClassifier model, DeploymentInfo info)
    {
        ArgumentNullException.ThrowIfNull(model);
        DeploymentInfo completed;
        WinogradPlan plan;
        try
        {
            completed = (info ?? throw new ArgumentNullException(nameof(info))).CompletedFor(model.Config);
            model.eval();
            MemoryFormat.ToChannelsLast(model);
            plan = WinogradPlan.For(model);
        }
        catch { model.Dispose(); throw; }   // the predictor owns the model: without a predictor, nobody else will
        return new(model.Config, completed, model, null, null, plan);
    }

    /// <summary>
    /// ONNX Runtime runs <paramref name="model"/> exported in memory at <paramref name="side"/> x <paramref name="side"/>
    /// (batch dimension dynamic). The caller keeps <paramref name="model"/>; ArgumentException for a side the model refuses.
    /// </summary>
    public static ImagePredictor ForOnnxRuntime(ImageClassifier model, DeploymentInfo info, int side, OnnxRuntimeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(info);
        model.CheckImageSize(side, side);
        var completed = info.CompletedFor(model.Config);
        var bytes = OnnxExporter.ExportToBytes(model, side, new OnnxExportOptions { Info = info });
        var memory = ForwardMemory.OfLargestLayer(model.Trace(side, side));   // the exported graph's layers are the model's
        return new ImagePredictor(model.Config, completed, null, new OnnxRuntimeEngine(bytes, options), side, onnxMemory: _ => memory);
    }

    /// <summary>The config parameter of <see cref="FromOnnx"/>, as <see cref="SettingNames"/> names settings.</summary>
    public const string ConfigSetting = "ImagePredictor.FromOnnx's config";

    /// <summary>
    /// An exported .onnx file; its model configuration comes from its metadata unless <paramref name="config"/> is given.
    /// <see cref="InvalidSettingException"/> (of <see cref="ConfigSetting"/>) when neither names one.
    /// </summary>
    public static ImagePredictor FromOnnx(string path, ModelConfig? config, OnnxRuntimeOptions? options = null)
    {
        var engine = new OnnxRuntimeEngine(path, options);
        try
        {
            int? side = engine.FixedImageSide();   // before the configuration: a graph of no images has none to give
            // a configuration beside an exported graph can only disagree with it
            if (config is not null && engine.Info.Model is { } stored && config.ToJson() != stored.ToJson())
                throw new InvalidDataException($"{path}: exported from {stored.Name}, and its graph is that model; a model configuration " +
                                               $"({config.Name}) is only for an .onnx file without one in its metadata");
            var model = config ?? engine.Info.Model ?? throw new InvalidSettingException(ConfigSetting,
                names => $"{path}: no ParNet model configuration in its metadata; give {names.Name(ConfigSetting)}");
            engine.RequireFits(model);
            var info = engine.Info.CompletedFor(model);
            var graph = OnnxLayerShapes.Weightless(path);   // read once: the file may go once the predictor is open
            return new ImagePredictor(model, info, null, engine, side, onnxMemory: s =>
            {
                var (image, layers, unknown) = OnnxLayerShapes.Infer(graph, s);   // no torch model: a deployment of .onnx files may have no libtorch
                return ForwardMemory.OfLargestLayer(image, layers, unknown);
            });
        }
        catch (Exception e)
        {
            engine.Dispose();   // the predictor would have owned it
            // the graph's refusals (its side, its channels or classes, its class names) are the file's fault
            if (e is ArgumentException and not InvalidSettingException) throw new InvalidDataException($"{path}: {e.Message}", e);
            throw;
        }
    }

    /// <summary>
    /// Host memory one image takes in a forward pass at <paramref name="side"/> x <paramref name="side"/>
    /// (<see cref="ForwardMemory"/>, a lower bound); null for onnxruntime-cuda, whose activations are in GPU memory.
    /// An ONNX graph of a fixed side (<see cref="FixedSize"/>) takes the same memory whatever <paramref name="side"/> says.
    /// </summary>
    public ForwardMemory? MemoryPerImage(int side)
    {
        if (_torch is not null) return _guard.Run(() => ForwardMemory.LayerOutputsAliveAtOnce(_torch.Trace(side, side)));   // the model, not freed meanwhile
        return _onnx!.Options.CudaDevice is null ? _onnxMemory!(side) : null;
    }

    /// <summary>
    /// ArgumentException, with the numbers, for a side the model refuses (<see cref="ModelConfig.CheckImageSize"/>) or
    /// whose one image surely cannot fit in this machine's memory (<see cref="MemoryPerImage"/>, a lower bound): refused
    /// before the preprocessing allocates the image at that side, which past ~23000 pixels overflowed an array's length
    /// with a stack trace, and below that had the kernel kill the process (exit 137) with nothing said.
    /// </summary>
    public void CheckImageFits(int side)
    {
        Config.CheckImageSize(side, side);
        if (MemoryPerImage(side) is not { } memory || memory.ImagesThatFit >= 1) return;
        throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"an image of {side}x{side} takes at least {MachineMemory.GiB(memory.BytesPerImage)} in {Config.Name}'s forward pass " +
            $"({memory.Basis}), more than the {MachineMemory.GiB(MachineMemory.AvailableBytes)} of memory here"));
    }

    /// <summary>Class probabilities (softmax of the logits) of one preprocessed image [C, H, W].</summary>
    public float[] Probabilities(ImageF image) => Probabilities([image ?? throw new ArgumentNullException(nameof(image))])[0];

    /// <summary>Class probabilities of a batch of preprocessed images, all of one shape, in one forward pass.</summary>
    public float[][] Probabilities(IReadOnlyList<ImageF> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0) return [];
        var first = images[0];
        foreach (var image in images)   // one pass: a null image, then the shape
        {
            if (image is null) throw new ArgumentException("an image of the batch is null", nameof(images));
            if (image.Channels != first.Channels || image.Height != first.Height || image.Width != first.Width)
                throw new ArgumentException("a batch needs images of one shape");
        }
        int size = first.Data.Length;
        var input = new float[images.Count * size];
        for (int i = 0; i < images.Count; i++) images[i].Data.CopyTo(input, i * size);
        long[] shape = [images.Count, first.Channels, first.Height, first.Width];
        float[] logits = _guard.Run(() => _onnx is not null ? _onnx.Run(input, shape).Data : TorchLogits(input, shape));
        int classes = logits.Length / images.Count;
        return Enumerable.Range(0, images.Count).Select(i => Softmax(logits.AsSpan(i * classes, classes))).ToArray();
    }

    float[] TorchLogits(float[] input, long[] shape)
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode(true);
        var x = MemoryFormat.ToChannelsLast(tensor(input, shape));
        _torch!.CheckInput(x);
        return _torch.call(x).to(ScalarType.Float32).data<float>().ToArray();
    }

    static float[] Softmax(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v);
        var e = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += e[i] = Math.Exp(logits[i] - max);
        return e.Select(v => (float)(v / sum)).ToArray();
    }

    /// <summary>Frees the engine once the predictions inside have returned (<see cref="DisposeGuard"/>).</summary>
    public void Dispose() => _guard.Dispose(() =>
    {
        _winograd?.Dispose();
        _torch?.Dispose();
        _onnx?.Dispose();
    });
}
