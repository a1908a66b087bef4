using TorchSharp.Modules;

namespace ParNet.Models.Tracing;

public enum LayerKind
{
    Input, Conv, Linear, BatchNorm, Activation, Sigmoid, Scale, Add, Mul,
    AvgPool2x2, Subsample2, MaxPool3x3Stride2, GlobalAvgPool, Flatten, Interleave, ChannelShuffle, Dropout,
}

/// <summary>One operation of a traced model. Shape is per image: [C, H, W] or [features].</summary>
public sealed class GraphNode
{
    public required int Id { get; init; }
    public required LayerKind Kind { get; init; }
    /// <summary>The state-dict prefix of the module behind this node ("" for functional ops).</summary>
    public required string Name { get; init; }
    public required IReadOnlyList<GraphNode> Inputs { get; init; }
    public required long[] Shape { get; init; }
    public long MultiplyAdds { get; init; }
    /// <summary>The TorchSharp module that computes this node, when there is one (conv, BN, linear).</summary>
    public TorchSharp.torch.nn.Module? Module { get; init; }
    /// <summary>Activation kind, scale factor or group count, by node kind.</summary>
    public object? Attribute { get; init; }

    /// <summary>Conv and linear layers are what the paper's depth counts.</summary>
    public bool IsLayer => Kind is LayerKind.Conv or LayerKind.Linear;
}

/// <summary>
/// A symbolic trace of a model: every block describes its computation here (shapes, not values).
/// Depth, multiply-adds, stage shapes and export are all read off this one graph.
/// </summary>
public sealed class LayerGraph
{
    readonly List<GraphNode> _nodes = new();
    readonly List<(string Stage, GraphNode Node)> _stages = new();
    readonly List<List<GraphNode>> _openScopes = [new()];   // the nodes each open dispose scope of the forward holds, outermost first
    readonly Dictionary<int, int> _freedAfter = new();       // node id -> the id of the last node made before its scope ended

    public IReadOnlyList<GraphNode> Nodes => _nodes;

    /// <summary>Outputs of the named stages, in trace order (inits.0, streams.0, ..., head).</summary>
    public IReadOnlyList<(string Stage, GraphNode Node)> Stages => _stages;

    public GraphNode Output => _nodes[^1];

    GraphNode Add(LayerKind kind, string name, long[] shape, params GraphNode[] inputs) =>
        Add(kind, name, shape, 0, null, null, inputs);

    GraphNode Add(LayerKind kind, string name, long[] shape, long macs, TorchSharp.torch.nn.Module? module,
                  object? attribute, params GraphNode[] inputs)
    {
        var node = new GraphNode
        {
            Id = _nodes.Count, Kind = kind, Name = name, Inputs = inputs, Shape = shape,
            MultiplyAdds = macs, Module = module, Attribute = attribute,
        };
        _nodes.Add(node);
        _openScopes[^1].Add(node);
        return node;
    }

    /// <summary>
    /// Traces <paramref name="body"/> as the forward runs it, in a dispose scope of its own (<see cref="ParNet.Models.Blocks.WrappedBlock"/>):
    /// the tensors it makes are freed as it ends, all but its output, which the enclosing scope then holds. What
    /// <see cref="FreedAfter"/> answers, so that a pass's memory can be read off the trace.
    /// </summary>
    public GraphNode Scoped(Func<GraphNode> body)
    {
        _openScopes.Add(new());
        var output = body();
        var made = _openScopes[^1];
        _openScopes.RemoveAt(_openScopes.Count - 1);
        foreach (var node in made)
            if (node != output) _freedAfter[node.Id] = _nodes.Count - 1;
        if (made.Contains(output)) _openScopes[^1].Add(output);
        return output;
    }

    /// <summary>The id of the last node made before <paramref name="node"/>'s tensor is freed by the scope that made it;
    /// null where it lives until the pass ends (made outside every block, or a block's output).</summary>
    public int? FreedAfter(GraphNode node) => _freedAfter.TryGetValue(node.Id, out int last) ? last : null;

    public GraphNode Input(long channels, long height, long width) => Add(LayerKind.Input, "input", [channels, height, width]);

    public GraphNode Stage(string stage, GraphNode node)
    {
        _stages.Add((stage, node));
        return node;
    }

    public GraphNode Conv(Conv2d conv, string name, GraphNode x)
    {
        if (x.Shape[0] != conv.in_channels)
            throw new InvalidOperationException($"{name}: expects {conv.in_channels} channels, gets {x.Shape[0]}");
        long Out(long size, int d) => (size + 2 * conv.padding![d] - conv.kernel_size[d]) / conv.stride[d] + 1;
        long[] shape = [conv.out_channels, Out(x.Shape[1], 0), Out(x.Shape[2], 1)];
        long macsPerOutput = conv.in_channels / conv.groups * conv.kernel_size[0] * conv.kernel_size[1];
        return Add(LayerKind.Conv, name, shape, shape[0] * shape[1] * shape[2] * macsPerOutput, conv, null, x);
    }

    public GraphNode Linear(Linear fc, string name, GraphNode x) =>
        Add(LayerKind.Linear, name, [fc.out_features], fc.in_features * fc.out_features, fc, null, x);

    public GraphNode BatchNorm(BatchNorm2d bn, string name, GraphNode x) => Add(LayerKind.BatchNorm, name, x.Shape, 0, bn, null, x);

    public GraphNode Activation(ActivationKind kind, GraphNode x) => Add(LayerKind.Activation, "", x.Shape, 0, null, kind, x);

    public GraphNode Sigmoid(GraphNode x) => Add(LayerKind.Sigmoid, "", x.Shape, x);

    public GraphNode Scale(GraphNode x, double factor) => Add(LayerKind.Scale, "", x.Shape, 0, null, factor, x);

    public GraphNode Dropout(GraphNode x, double p) => Add(LayerKind.Dropout, "", x.Shape, 0, null, p, x);

    public GraphNode Sum(params GraphNode[] xs)
    {
        foreach (var x in xs.Skip(1))
            if (!x.Shape.SequenceEqual(xs[0].Shape)) throw new InvalidOperationException("sum of differently shaped branches");
        return Add(LayerKind.Add, "", xs[0].Shape, xs);
    }

    /// <summary>Element-wise product; the second operand may be a per-channel gate [C, 1, 1].</summary>
    public GraphNode Mul(GraphNode x, GraphNode gate) => Add(LayerKind.Mul, "", x.Shape, x, gate);

    public GraphNode AvgPool2x2(GraphNode x) => Add(LayerKind.AvgPool2x2, "", [x.Shape[0], x.Shape[1] / 2, x.Shape[2] / 2], x);

    /// <summary>Every second row and column, x[:, :, ::2, ::2] (a stride-2 1x1 conv's sampling).</summary>
    public GraphNode Subsample2(GraphNode x) => Add(LayerKind.Subsample2, "", [x.Shape[0], (x.Shape[1] + 1) / 2, (x.Shape[2] + 1) / 2], x);

    /// <summary>ResNet stem pool: kernel 3, stride 2, padding 1.</summary>
    public GraphNode MaxPool3x3Stride2(GraphNode x) =>
        Add(LayerKind.MaxPool3x3Stride2, "", [x.Shape[0], (x.Shape[1] - 1) / 2 + 1, (x.Shape[2] - 1) / 2 + 1], x);

    public GraphNode GlobalAvgPool(GraphNode x) => Add(LayerKind.GlobalAvgPool, "", [x.Shape[0], 1, 1], x);

    public GraphNode Flatten(GraphNode x) => Add(LayerKind.Flatten, "", [x.Shape.Aggregate(1L, (a, b) => a * b)], x);

    public GraphNode Interleave(GraphNode a, GraphNode b) => Add(LayerKind.Interleave, "", [a.Shape[0] * 2, a.Shape[1], a.Shape[2]], a, b);

    public GraphNode ChannelShuffle(GraphNode x, int groups) => Add(LayerKind.ChannelShuffle, "", x.Shape, 0, null, groups, x);

    /// <summary>Conv and linear layers on the longest input-to-output path (the paper's depth).</summary>
    public int Depth()
    {
        var depth = new int[_nodes.Count];
        foreach (var n in _nodes)   // nodes are appended after their inputs: a topological order
            depth[n.Id] = (n.Inputs.Count == 0 ? 0 : n.Inputs.Max(i => depth[i.Id])) + (n.IsLayer ? 1 : 0);
        return depth[Output.Id];
    }

    /// <summary>Multiply-adds of the conv and linear layers for one image.</summary>
    public long MultiplyAdds() => _nodes.Sum(n => n.MultiplyAdds);
}
