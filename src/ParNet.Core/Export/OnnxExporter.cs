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
    /// <summary>Class names, the data set, normalization: stored in metadata_props (see <see cref="DeploymentInfo"/>).</summary>
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
        var builder = new GraphBuilder(options);
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
        var proto = OnnxMessages.Model(IrVersion, "parnet-dotnet", version, Opset, graphProto, info.ToMetadata(),
            $"{model.Config.Name}, {height}x{width}, {(info.Fused == true ? "fused" : "training form")}");
        return proto;
    }

    /// <summary>A fused ParNet has re-parameterized convs (state-dict keys ending in rbr_reparam).</summary>
    static bool IsFused(LayerGraph graph) => graph.Nodes.Any(n => n.Kind == LayerKind.Conv && n.Name.EndsWith("rbr_reparam", StringComparison.Ordinal));

    sealed class GraphBuilder(OnnxExportOptions options)
    {
        public List<NodeProto> Nodes { get; } = new();
        public List<TensorProto> Initializers { get; } = new();
        readonly HashSet<string> _initializerNames = new(StringComparer.Ordinal);
        readonly Dictionary<int, string> _values = new();

        public void Build(LayerGraph graph)
        {
            foreach (var node in graph.Nodes)
                _values[node.Id] = Emit(node, node == graph.Output ? options.OutputName : $"t{node.Id}");
            if (_values[graph.Output.Id] != options.OutputName)   // the last node was an alias (dropout)
                Nodes.Add(OnnxMessages.Node("Identity", "output", [_values[graph.Output.Id]], [options.OutputName]));
        }

        string In(GraphNode node, int i = 0) => _values[node.Inputs[i].Id];

        /// <summary>The ONNX value a traced node became (an alias node: its input's).</summary>
        public string ValueOf(GraphNode node) => _values[node.Id];

        /// <summary>Unique node names: the module's key when there is one, and the node's position.</summary>
        string OpName(GraphNode node, string op) => node.Name.Length > 0 ? $"{node.Name}/{op}_{Nodes.Count}" : $"{op}_{Nodes.Count}";

        void Op(string op, GraphNode node, string[] inputs, string output, params AttributeProto[] attributes) =>
            Nodes.Add(OnnxMessages.Node(op, OpName(node, op), inputs, [output], attributes));

        /// <summary>Emits the node's operators; returns the name of its output value.</summary>
        string Emit(GraphNode node, string output)
        {
            switch (node.Kind)
            {
                case LayerKind.Input:
                    return options.InputName;
                case LayerKind.Conv:
                    EmitConv(node, output);
                    return output;
                case LayerKind.Linear:
                {
                    var fc = (Linear)Module(node);
                    var inputs = new List<string> { In(node), Weight(node.Name + ".weight", fc.weight!) };
                    if (fc.bias is not null) inputs.Add(Weight(node.Name + ".bias", fc.bias));
                    Op("Gemm", node, inputs.ToArray(), output, OnnxMessages.Attribute("transB", 1L));
                    return output;
                }
                case LayerKind.BatchNorm:
                {
                    var bn = (BatchNorm2d)Module(node);
                    long c = node.Shape[0];
                    string scale = bn.weight is null ? Constant($"{node.Name}.weight", Enumerable.Repeat(1f, (int)c).ToArray(), [c]) : Weight(node.Name + ".weight", bn.weight);
                    string bias = bn.bias is null ? Constant($"{node.Name}.bias", new float[c], [c]) : Weight(node.Name + ".bias", bn.bias);
                    string mean = Weight(node.Name + ".running_mean", bn.running_mean ?? throw NoStats(node));
                    string variance = Weight(node.Name + ".running_var", bn.running_var ?? throw NoStats(node));
                    Op("BatchNormalization", node, [In(node), scale, bias, mean, variance], output,
                        OnnxMessages.Attribute("epsilon", (float)bn.eps), OnnxMessages.Attribute("momentum", (float)(bn.momentum ?? 0.1)));
                    return output;
                }
                case LayerKind.Activation:
                    switch ((ActivationKind)node.Attribute!)
                    {
                        case ActivationKind.ReLU:
                            Op("Relu", node, [In(node)], output);
                            return output;
                        case ActivationKind.SiLU:   // x * sigmoid(x): ONNX has no SiLU operator at opset 17
                            Op("Sigmoid", node, [In(node)], output + "_sigmoid");
                            Op("Mul", node, [In(node), output + "_sigmoid"], output);
                            return output;
                        default:
                            throw new NotSupportedException($"ONNX export: activation {node.Attribute} is not supported");
                    }
                case LayerKind.Sigmoid:
                    Op("Sigmoid", node, [In(node)], output);
                    return output;
                case LayerKind.Scale:
                {
                    double factor = Convert.ToDouble(node.Attribute, CultureInfo.InvariantCulture);
                    string constant = Constant("const.scale_" + factor.ToString("R", CultureInfo.InvariantCulture), [(float)factor], []);
                    Op("Mul", node, [In(node), constant], output);
                    return output;
                }
                case LayerKind.Add:
                    if (node.Inputs.Count == 1) return In(node);
                    // Sum takes any number of inputs; pairwise Adds are what every runtime fuses best
                    string acc = In(node, 0);
                    for (int i = 1; i < node.Inputs.Count; i++)
                    {
                        string target = i == node.Inputs.Count - 1 ? output : $"{output}_add{i}";
                        Op("Add", node, [acc, In(node, i)], target);
                        acc = target;
                    }
                    return output;
                case LayerKind.Mul:
                    Op("Mul", node, [In(node, 0), In(node, 1)], output);
                    return output;
                case LayerKind.AvgPool2x2:
                    Op("AveragePool", node, [In(node)], output, OnnxMessages.Attribute("kernel_shape", [2L, 2L]), OnnxMessages.Attribute("strides", [2L, 2L]));
                    return output;
                case LayerKind.Subsample2:   // x[:, :, ::2, ::2]
                    Op("Slice", node, [In(node), Ints("const.slice_starts", [0, 0]), Ints("const.slice_ends", [long.MaxValue, long.MaxValue]),
                        Ints("const.slice_axes", [2, 3]), Ints("const.slice_steps", [2, 2])], output);
                    return output;
                case LayerKind.MaxPool3x3Stride2:
                    Op("MaxPool", node, [In(node)], output, OnnxMessages.Attribute("kernel_shape", [3L, 3L]),
                        OnnxMessages.Attribute("strides", [2L, 2L]), OnnxMessages.Attribute("pads", [1L, 1L, 1L, 1L]));
                    return output;
                case LayerKind.GlobalAvgPool:
                    Op("GlobalAveragePool", node, [In(node)], output);
                    return output;
                case LayerKind.Flatten:
                    Op("Flatten", node, [In(node)], output, OnnxMessages.Attribute("axis", 1L));
                    return output;
                case LayerKind.Dropout:   // eval form: identity
                    return In(node);
                case LayerKind.Interleave:
                {
                    // [N,C,H,W] x2 -> unsqueeze at 2 -> concat on 2: [N,C,2,H,W] -> [N,2C,H,W]: channel 2k = a[k], 2k+1 = b[k]
                    string axes = Ints("const.axes_2", [2]);
                    Op("Unsqueeze", node, [In(node, 0), axes], output + "_a");
                    Op("Unsqueeze", node, [In(node, 1), axes], output + "_b");
                    Op("Concat", node, [output + "_a", output + "_b"], output + "_ab", OnnxMessages.Attribute("axis", 2L));
                    Op("Reshape", node, [output + "_ab", Ints("const.shape_" + string.Join("x", node.Shape), [0, .. node.Shape])], output);
                    return output;
                }
                case LayerKind.ChannelShuffle:
                {
                    long groups = Convert.ToInt64(node.Attribute, CultureInfo.InvariantCulture);
                    long c = node.Shape[0], h = node.Shape[1], w = node.Shape[2];
                    if (c % groups != 0) throw new InvalidOperationException($"channel shuffle: {c} channels, {groups} groups");
                    long[] grouped = [0, groups, c / groups, h, w];
                    Op("Reshape", node, [In(node), Ints("const.shape_" + string.Join("x", grouped[1..]), grouped)], output + "_grouped");
                    Op("Transpose", node, [output + "_grouped"], output + "_swapped", OnnxMessages.Attribute("perm", [0L, 2L, 1L, 3L, 4L]));
                    Op("Reshape", node, [output + "_swapped", Ints("const.shape_" + string.Join("x", node.Shape), [0, .. node.Shape])], output);
                    return output;
                }
                default:
                    throw new NotSupportedException($"ONNX export: layer kind {node.Kind} is not supported");
            }
        }

        void EmitConv(GraphNode node, string output)
        {
            var conv = (Conv2d)Module(node);
            if (conv.padding is null) throw new NotSupportedException($"{node.Name}: string padding modes are not exported");
            var inputs = new List<string> { In(node), Weight(node.Name + ".weight", conv.weight!) };
            if (conv.bias is not null) inputs.Add(Weight(node.Name + ".bias", conv.bias));   // fused convs (rbr_reparam)
            long[] pads = conv.padding.Select(p => (long)p).ToArray();
            Op("Conv", node, inputs.ToArray(), output,
                OnnxMessages.Attribute("kernel_shape", conv.kernel_size.Select(k => (long)k).ToArray()),
                OnnxMessages.Attribute("strides", conv.stride.Select(s => (long)s).ToArray()),
                OnnxMessages.Attribute("pads", [.. pads, .. pads]),   // begin (top, left), end (bottom, right)
                OnnxMessages.Attribute("dilations", conv.dilation.Select(d => (long)d).ToArray()),
                OnnxMessages.Attribute("group", (long)conv.groups));
        }

        static nn.Module Module(GraphNode node) =>
            node.Module ?? throw new InvalidOperationException($"{node.Kind} node '{node.Name}' carries no module");

        static InvalidOperationException NoStats(GraphNode node) => new($"{node.Name}: BatchNorm without running statistics cannot be exported");

        /// <summary>A weight as a float32 initializer named by its state-dict key (added once).</summary>
        string Weight(string name, Tensor tensor)
        {
            if (_initializerNames.Add(name))
            {
                using var scope = NewDisposeScope();
                var t = tensor.detach().cpu().to(ScalarType.Float32).contiguous();
                Initializers.Add(OnnxMessages.FloatTensor(name, t.shape, t.data<float>().ToArray()));
            }
            return name;
        }

        string Constant(string name, float[] values, long[] dims)
        {
            if (_initializerNames.Add(name)) Initializers.Add(OnnxMessages.FloatTensor(name, dims, values));
            return name;
        }

        string Ints(string name, long[] values)
        {
            if (_initializerNames.Add(name)) Initializers.Add(OnnxMessages.Int64Tensor(name, values));
            return name;
        }
    }
}
