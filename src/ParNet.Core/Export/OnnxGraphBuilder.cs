using System.Globalization;
using Onnx;
using TorchSharp.Modules;
using ParNet.Models;
using ParNet.Models.Tracing;
using static TorchSharp.torch;

namespace ParNet.Export;

/// <summary>
/// The nodes and initializers of an ONNX graph from a <see cref="LayerGraph"/> (<see cref="OnnxExporter"/>'s): one emitter
/// per layer kind, each weight an initializer named by its state-dict key, node names unique (the module's key and the
/// node's position).
/// </summary>
sealed class OnnxGraphBuilder(OnnxExportOptions options)
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

    /// <summary>The ONNX value a traced node became (an alias node: its input's).</summary>
    public string ValueOf(GraphNode node) => _values[node.Id];

    /// <summary>Emits the node's operators; returns the name of its output value.</summary>
    string Emit(GraphNode node, string output) => node.Kind switch
    {
        LayerKind.Input => options.InputName,
        LayerKind.Conv => Conv(node, output),
        LayerKind.Linear => Gemm(node, output),
        LayerKind.BatchNorm => BatchNormalization(node, output),
        LayerKind.Activation => Activation(node, output),
        LayerKind.Sigmoid => Op("Sigmoid", node, [In(node)], output),
        LayerKind.Scale => Scale(node, output),
        LayerKind.Add => Add(node, output),
        LayerKind.Mul => Op("Mul", node, [In(node, 0), In(node, 1)], output),
        LayerKind.AvgPool2x2 => Op("AveragePool", node, [In(node)], output,
            OnnxMessages.Attribute("kernel_shape", [2L, 2L]), OnnxMessages.Attribute("strides", [2L, 2L])),
        LayerKind.Subsample2 => Subsample2(node, output),
        LayerKind.MaxPool3x3Stride2 => Op("MaxPool", node, [In(node)], output, OnnxMessages.Attribute("kernel_shape", [3L, 3L]),
            OnnxMessages.Attribute("strides", [2L, 2L]), OnnxMessages.Attribute("pads", [1L, 1L, 1L, 1L])),
        LayerKind.GlobalAvgPool => Op("GlobalAveragePool", node, [In(node)], output),
        LayerKind.Flatten => Op("Flatten", node, [In(node)], output, OnnxMessages.Attribute("axis", 1L)),
        LayerKind.Dropout => In(node),   // eval form: identity
        LayerKind.Interleave => Interleave(node, output),
        LayerKind.ChannelShuffle => ChannelShuffle(node, output),
        _ => throw new NotSupportedException($"ONNX export: layer kind {node.Kind} is not supported"),
    };

    string Conv(GraphNode node, string output)
    {
        var conv = (Conv2d)Module(node);
        if (conv.padding is null) throw new NotSupportedException($"{node.Name}: string padding modes are not exported");
        var inputs = new List<string> { In(node), Weight(node.Name + ".weight", conv.weight!) };
        if (conv.bias is not null) inputs.Add(Weight(node.Name + ".bias", conv.bias));   // fused convs (rbr_reparam)
        long[] pads = conv.padding.Select(p => (long)p).ToArray();
        return Op("Conv", node, inputs.ToArray(), output,
            OnnxMessages.Attribute("kernel_shape", conv.kernel_size.Select(k => (long)k).ToArray()),
            OnnxMessages.Attribute("strides", conv.stride.Select(s => (long)s).ToArray()),
            OnnxMessages.Attribute("pads", [.. pads, .. pads]),   // begin (top, left), end (bottom, right)
            OnnxMessages.Attribute("dilations", conv.dilation.Select(d => (long)d).ToArray()),
            OnnxMessages.Attribute("group", (long)conv.groups));
    }

    string Gemm(GraphNode node, string output)
    {
        var fc = (Linear)Module(node);
        var inputs = new List<string> { In(node), Weight(node.Name + ".weight", fc.weight!) };
        if (fc.bias is not null) inputs.Add(Weight(node.Name + ".bias", fc.bias));
        return Op("Gemm", node, inputs.ToArray(), output, OnnxMessages.Attribute("transB", 1L));
    }

    string BatchNormalization(GraphNode node, string output)
    {
        var bn = (BatchNorm2d)Module(node);
        long c = node.Shape[0];
        string scale = bn.weight is null ? Constant($"{node.Name}.weight", Enumerable.Repeat(1f, (int)c).ToArray(), [c]) : Weight(node.Name + ".weight", bn.weight);
        string bias = bn.bias is null ? Constant($"{node.Name}.bias", new float[c], [c]) : Weight(node.Name + ".bias", bn.bias);
        string mean = Weight(node.Name + ".running_mean", bn.running_mean ?? throw NoStats(node));
        string variance = Weight(node.Name + ".running_var", bn.running_var ?? throw NoStats(node));
        return Op("BatchNormalization", node, [In(node), scale, bias, mean, variance], output,
            OnnxMessages.Attribute("epsilon", (float)bn.eps), OnnxMessages.Attribute("momentum", (float)(bn.momentum ?? 0.1)));
    }

    string Activation(GraphNode node, string output)
    {
        switch ((ActivationKind)node.Attribute!)
        {
            case ActivationKind.ReLU:
                return Op("Relu", node, [In(node)], output);
            case ActivationKind.SiLU:   // x * sigmoid(x): ONNX has no SiLU operator at opset 17
                Op("Sigmoid", node, [In(node)], output + "_sigmoid");
                return Op("Mul", node, [In(node), output + "_sigmoid"], output);
            default:
                throw new NotSupportedException($"ONNX export: activation {node.Attribute} is not supported");
        }
    }

    string Scale(GraphNode node, string output)
    {
        double factor = Convert.ToDouble(node.Attribute, CultureInfo.InvariantCulture);
        string constant = Constant("const.scale_" + factor.ToString("R", CultureInfo.InvariantCulture), [(float)factor], []);
        return Op("Mul", node, [In(node), constant], output);
    }

    string Add(GraphNode node, string output)
    {
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
    }

    /// <summary>x[:, :, ::2, ::2]</summary>
    string Subsample2(GraphNode node, string output) =>
        Op("Slice", node, [In(node), Ints("const.slice_starts", [0, 0]), Ints("const.slice_ends", [long.MaxValue, long.MaxValue]),
            Ints("const.slice_axes", [2, 3]), Ints("const.slice_steps", [2, 2])], output);

    string Interleave(GraphNode node, string output)
    {
        // [N,C,H,W] x2 -> unsqueeze at 2 -> concat on 2: [N,C,2,H,W] -> [N,2C,H,W]: channel 2k = a[k], 2k+1 = b[k]
        string axes = Ints("const.axes_2", [2]);
        Op("Unsqueeze", node, [In(node, 0), axes], output + "_a");
        Op("Unsqueeze", node, [In(node, 1), axes], output + "_b");
        Op("Concat", node, [output + "_a", output + "_b"], output + "_ab", OnnxMessages.Attribute("axis", 2L));
        return Op("Reshape", node, [output + "_ab", Ints("const.shape_" + string.Join("x", node.Shape), [0, .. node.Shape])], output);
    }

    string ChannelShuffle(GraphNode node, string output)
    {
        long groups = Convert.ToInt64(node.Attribute, CultureInfo.InvariantCulture);
        long c = node.Shape[0], h = node.Shape[1], w = node.Shape[2];
        if (c % groups != 0) throw new InvalidOperationException($"channel shuffle: {c} channels, {groups} groups");
        long[] grouped = [0, groups, c / groups, h, w];
        Op("Reshape", node, [In(node), Ints("const.shape_" + string.Join("x", grouped[1..]), grouped)], output + "_grouped");
        Op("Transpose", node, [output + "_grouped"], output + "_swapped", OnnxMessages.Attribute("perm", [0L, 2L, 1L, 3L, 4L]));
        return Op("Reshape", node, [output + "_swapped", Ints("const.shape_" + string.Join("x", node.Shape), [0, .. node.Shape])], output);
    }

    string In(GraphNode node, int i = 0) => _values[node.Inputs[i].Id];

    /// <summary>Unique node names: the module's key when there is one, and the node's position.</summary>
    string OpName(GraphNode node, string op) => node.Name.Length > 0 ? $"{node.Name}/{op}_{Nodes.Count}" : $"{op}_{Nodes.Count}";

    /// <summary>Adds one operator node; returns its output value's name.</summary>
    string Op(string op, GraphNode node, string[] inputs, string output, params AttributeProto[] attributes)
    {
        Nodes.Add(OnnxMessages.Node(op, OpName(node, op), inputs, [output], attributes));
        return output;
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
