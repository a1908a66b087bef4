using System.Globalization;
using Google.Protobuf;
using Onnx;
using TorchSharp.Modules;
using ParNet.Models;
using static TorchSharp.torch;
using ParNet.Models.Tracing;
using ParNet.Runtime;

namespace ParNet.Export;

/// <summary>What goes into an exported file besides the graph.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>Class names, the data set, normalization: stored in metadata_props (see <see cref="DeploymentInfo"/>). Null:
    /// none stored, and the file's users fall back to ImageNet's statistics (a grey model: 0.5 / 0.5) and "class i" names;
    /// pass the info the weights were loaded with (<c>ClassifierLoader.Load</c>'s) to keep them.</summary>
    public DeploymentInfo? Info { get; init; }

    /// <summary>Batch dimension symbolic ("batch"); false fixes it to <see cref="FixedBatch"/>.</summary>
    public bool DynamicBatch { get; init; } = true;
    public int FixedBatch { get; init; } = 1;

    public string InputName { get; init; } = "input";
    public string OutputName { get; init; } = "logits";
}

/// <summary>
/// Writes a model as standard ONNX (opset 17, IR version 8) from its <see cref="LayerGraph"/>: every node kind of
/// the trace maps to ONNX operators, every weight becomes an initializer named by its state-dict key. Works on any
/// traceable network: ParNet trained or fused (convs with a bias), ResNetModel, CIFAR layout, 1-4 streams.
/// Eval form: BatchNormalization uses the running statistics, dropout is left out. Weights are written as float32
/// whatever the model's dtype. Spatial size is fixed at export (the image size given to Export), the batch is dynamic.
/// </summary>
public static class OnnxExporter
{
    public const int Opset = 17;
    public const long IrVersion = 8;

    public static void Export(ImageClassifier model, string path, int imageSize, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        model.ThrowIfDisposed("be exported");
        Write(BuildModel(model, imageSize, imageSize, options), path);
    }

    /// <summary>Writes a ModelProto atomically (<see cref="AtomicFile"/>): a temporary file renamed into place, none left
    /// behind on failure; a symbolic link is written through, anything else but a regular file is refused.</summary>
    public static void Write(ModelProto proto, string path) => AtomicFile.Write(path, temporary =>
    {
        using var f = File.Create(temporary);
        proto.WriteTo(f);
    });

    /// <summary>The serialized ModelProto (InferenceSession accepts it as a byte array).</summary>
    public static byte[] ExportToBytes(ImageClassifier model, int imageSize, OnnxExportOptions? options = null) =>
        BuildModel(model, imageSize, imageSize, options).ToByteArray();

    public static ReadOnlyMemory<byte> ExportToMemory(ImageClassifier model, int height, int width, OnnxExportOptions? options = null) =>
        BuildModel(model, height, width, options).ToByteArray();

    /// <summary>The ModelProto (OnnxSharp's generated class) of a model traced at height x width.</summary>
    public static ModelProto BuildModel(ImageClassifier model, int height, int width, OnnxExportOptions? options = null) =>
        BuildModel(model, height, width, options, out _);

    /// <summary>A ParNet's export cut at its streams, for running each stream in its own session (<see cref="OnnxStreamPartition"/>).</summary>
    public static OnnxStreamPartition BuildStreamPartition(ParNetModel model, int height, int width, OnnxExportOptions? options = null)
    {
        var whole = BuildModel(model, height, width, options, out var stageValues);
        return OnnxStreamPartition.Split(whole, StreamBoundaries(model.Streams, stageValues));
    }

    /// <summary>Each stream's input and output value in an export: the values of the trace's stages inits.i and streams.i.</summary>
    public static IReadOnlyList<(string Input, string Output)> StreamBoundaries(int streams, IReadOnlyDictionary<string, string> stageValues) =>
        Enumerable.Range(0, streams).Select(i => (stageValues[$"inits.{i}"], stageValues[$"streams.{i}"])).ToList();

    /// <summary>As above; <paramref name="stageValues"/>: the ONNX value name of each stage of the trace (inits.0, streams.0, ...).</summary>
    public static ModelProto BuildModel(ImageClassifier model, int height, int width, OnnxExportOptions? options,
                                        out IReadOnlyDictionary<string, string> stageValues)
    {
        options ??= new OnnxExportOptions();
        options.Info?.CompletedFor(model.Config);   // its class names are read back as the logits' names (ImagePredictor.FromOnnx)
        var graph = model.Trace(height, width);
        var builder = new OnnxGraphBuilder(options);
        builder.Build(graph);
        stageValues = graph.Stages.ToDictionary(s => s.Stage, s => builder.ValueOf(s.Node), StringComparer.Ordinal);

        var input = graph.Nodes[0];
        long? batch = options.DynamicBatch ? null : options.FixedBatch;
        var graphProto = OnnxMessages.Graph(model.Config.Name, builder.Nodes, builder.Initializers,
            [OnnxMessages.ValueInfo(options.InputName, TensorProto.Types.DataType.Float, [batch, .. input.Shape.Select(d => (long?)d)])],
            [OnnxMessages.ValueInfo(options.OutputName, TensorProto.Types.DataType.Float, [batch, .. graph.Output.Shape.Select(d => (long?)d)])]);

        var info = (options.Info ?? new DeploymentInfo()) with
        {
            Model = options.Info?.Model ?? model.Config,
            ImageSize = height == width ? height : options.Info?.ImageSize,
            Fused = options.Info?.Fused ?? IsFused(graph),
        };
        string version = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "0";
        var metadata = info.ToMetadata().ToList();
        if (height == width && Preprocessing(model.Config, info, height) is { } steps)   // how an image becomes the input, for another front end
            metadata.Add(new(DeploymentPreprocessing.MetadataKey, steps));
        var proto = OnnxMessages.Model(IrVersion, "parnet-dotnet", version, Opset, graphProto, metadata,
            $"{model.Config.Name}, {height}x{width}, {(info.Fused == true ? "fused" : "training form")}");
        return proto;
    }

    /// <summary>The preprocessing in words, or null where images cannot be made into this input (a model of 2 or 4 channels,
    /// fed by a library user's own data): the graph is still exported, without the key (review, session 48).</summary>
    static string? Preprocessing(ModelConfig model, DeploymentInfo info, int side)
    {
        try { return new DeploymentPreprocessing(model, info, side).Description; }
        catch (ArgumentException) { return null; }
    }

    /// <summary>A fused ParNet has re-parameterized convs (state-dict keys ending in rbr_reparam).</summary>
    static bool IsFused(LayerGraph graph) => graph.Nodes.Any(n => n.Kind == LayerKind.Conv && n.Name.EndsWith("rbr_reparam", StringComparison.Ordinal));
}
