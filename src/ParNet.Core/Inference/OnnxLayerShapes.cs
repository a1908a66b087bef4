using ParNet.Models.Tracing;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace ParNet.Inference;

/// <summary>
/// The per-image shapes of an ONNX graph's conv and matrix layers, as ONNX Runtime's own shape inference gives them, for
/// <see cref="ForwardMemory.OfLargestLayer(long[], IEnumerable{ValueTuple{long[], long[]}}, int)"/> of an exported file: an
/// ONNX engine keeps no torch model to trace, and a deployment of .onnx files may have no libtorch at all (the GPU pack's
/// CLI). The graph is read without its weights: each float or int8 initializer becomes a graph input of its type and shape, the batch
/// is set to 1 (and a dynamic side to the side asked), every layer's input and output become graph outputs, and a session
/// is only opened with basic optimizations (constant folding of shape computations), never run: its output metadata holds
/// the inferred shapes.
/// </summary>
public static class OnnxLayerShapes
{
    /// <summary>The float layers whose input and output exist at once in any engine (QDQ int8 graphs keep float Convs).</summary>
    static readonly HashSet<string> Layers = ["Conv", "Gemm", "MatMul"];

    /// <summary>The image's shape [C, H, W] and, per layer, its input (null where it is the image) and output without the
    /// batch; a graph exported with a dynamic height and width is taken at <paramref name="side"/> x <paramref name="side"/>
    /// (a fixed side stays as exported). Layers whose shapes ONNX Runtime cannot infer are left out and counted in
    /// <c>Unknown</c>.</summary>
    public static (long[] Image, List<(long[]? Input, long[] Output)> Layers, int Unknown) Infer(string path, int? side = null) =>
        Infer(Weightless(path), side);

    /// <summary>The graph of an .onnx file with its float and int8 weights turned into graph inputs of their types and shapes
    /// (their values dropped): what <see cref="Infer(ModelProto, int?)"/> reads, kilobytes where the file holds megabytes.
    /// A predictor keeps it, so that its file may go once it is open (library audit, session 39: a predictor's memory check
    /// and preprocessing re-read the file, and failed with FileNotFoundException once a service had rotated it away).</summary>
    public static ModelProto Weightless(string path)
    {
        ModelProto model;
        using (var file = File.OpenRead(path)) model = ModelProto.Parser.ParseFrom(file);
        var graph = model.Graph;
        // the image: the first input that is no initializer (graphs of IR version 3, or torch's keep_initializers_as_inputs,
        // list every weight as a graph input too); put first, as the weights become inputs
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var image = graph.Input.First(i => !initializers.Contains(i.Name));
        graph.Input.Remove(image);
        graph.Input.Insert(0, image);
        // integer initializers stay: they are the shapes and axes of Reshape and its kind, whose values inference needs
        var weights = graph.Initializer.Where(t => t.DataType is not ((int)TensorProto.Types.DataType.Int64 or (int)TensorProto.Types.DataType.Int32)).ToList();
        var listed = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var weight in weights)
        {
            if (!listed.Contains(weight.Name)) graph.Input.Add(new ValueInfoProto { Name = weight.Name, Type = TensorType(weight.DataType, weight.Dims) });
            graph.Initializer.Remove(weight);
        }
        return model;
    }

    /// <summary>As <see cref="Infer(string, int?)"/>, from a graph <see cref="Weightless(string)"/> read (left as it is).</summary>
    public static (long[] Image, List<(long[]? Input, long[] Output)> Layers, int Unknown) Infer(ModelProto weightless, int? side = null)
    {
        var model = weightless.Clone();
        var graph = model.Graph;
        var image = graph.Input[0];   // Weightless put it first

        var dims = image.Type.TensorType.Shape.Dim;
        dims[0] = new TensorShapeProto.Types.Dimension { DimValue = 1 };
        if (side is int s)
            for (int i = 2; i < dims.Count; i++)
                if (dims[i].DimValue <= 0) dims[i] = new TensorShapeProto.Types.Dimension { DimValue = s };
        var layers = graph.Node.Where(n => Layers.Contains(n.OpType)).Select(n => (Input: n.Input[0], Output: n.Output[0])).ToList();
        var declared = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in layers.SelectMany(l => new[] { l.Input, l.Output }).Distinct().Where(n => n != image.Name && declared.Add(n)))
            graph.Output.Add(new ValueInfoProto { Name = name, Type = TensorType((int)TensorProto.Types.DataType.Float, null) });
        graph.Output[0].Type.TensorType.Shape = null;   // the logits' declared batch would clash with the batch of 1

        // basic optimizations fold the Shape -> Gather -> Concat chains that torch.onnx.export writes for a Reshape's shape
        // into constants (the weights, graph inputs here, are not folded); without them the authors' ParNet exported by
        // torch had no shape after its first channel shuffle. Every layer's input and output is a graph output: kept.
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC };
        long[] imageShape = image.Type.TensorType.Shape.Dim.Skip(1).Select(d => d.DimValue).ToArray();
        InferenceSession session;
        try { session = new InferenceSession(model.ToByteArray(), options); }
        catch (OnnxRuntimeException) { return (imageShape, [], layers.Count); }   // a graph this rewriting breaks: no layer's shape known
        using var opened = session;
        long[]? Shape(string name)
        {
            var dims = session.OutputMetadata[name].Dimensions;
            return dims.Length == 0 || dims.Any(d => d <= 0) ? null : dims.Skip(1).Select(d => (long)d).ToArray();
        }
        var shapes = layers.Select(l => (IsImage: l.Input == image.Name, Input: l.Input == image.Name ? null : Shape(l.Input), Output: Shape(l.Output))).ToList();
        var known = shapes.Where(l => l.Output is not null && (l.IsImage || l.Input is not null)).Select(l => (l.Input, l.Output!)).ToList();
        return (imageShape, known, layers.Count - known.Count);
    }

    /// <summary>
    /// Multiply-adds per image of the graph's Conv, Gemm and MatMul layers, as <see cref="LayerGraph.MultiplyAdds"/> counts a
    /// model's: each output element costs its fan-in (a Conv's weight's input channels per group x kernel height x width; a
    /// Gemm's or MatMul's inner dimension). For a graph another tool wrote, whose form (training or fused) is not stored: bench
    /// credited it with its own model's fused count. Null where ONNX Runtime infers no shape for a layer, a Conv's weight
    /// is neither an initializer nor dequantized from one (a QDQ graph's int8 weight), or a Gemm or MatMul takes a weight
    /// or a transposed activation first (its inner dimension is then not the activation's last).
    /// </summary>
    public static long? MultiplyAdds(ModelProto weightless, int? side = null)
    {
        var (_, shapes, unknown) = Infer(weightless, side);
        if (unknown > 0) return null;
        var graph = weightless.Graph;
        // the graph's inputs (the image and, in this weightless form, the weights) by name; a value's producing node by name (an
        // optional output left unnamed is "", which several nodes may share)
        var declared = new Dictionary<string, long[]?>(StringComparer.Ordinal);
        foreach (var i in graph.Input) declared.TryAdd(i.Name, i.Type?.TensorType?.Shape?.Dim.Select(d => d.DimValue).ToArray());
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var n in graph.Node)
            foreach (var o in n.Output.Where(o => o.Length > 0)) producers.TryAdd(o, n);
        long[]? WeightDims(string name) =>
            declared.GetValueOrDefault(name)
            ?? (producers.GetValueOrDefault(name) is { OpType: "DequantizeLinear" } dequantize ? declared.GetValueOrDefault(dequantize.Input[0]) : null);
        string image = graph.Input[0].Name;   // Weightless put it first
        long total = 0;
        foreach (var (node, (input, output)) in graph.Node.Where(n => Layers.Contains(n.OpType)).Zip(shapes))
        {
            long fanIn;
            if (node.OpType == "Conv")
            {
                if (WeightDims(node.Input[1]) is not { Length: > 1 } weight || weight.Any(d => d <= 0)) return null;
                fanIn = weight.Skip(1).Aggregate(1L, (a, d) => a * d);
            }
            // a Gemm's or MatMul's activation first, not transposed (a weight first, or transA, would make the last dim another one)
            else if (input is { Length: > 0 } && (node.Input[0] == image || !declared.ContainsKey(node.Input[0]))
                     && !node.Attribute.Any(a => a.Name == "transA" && a.I != 0)) fanIn = input[^1];
            else return null;
            total += output.Aggregate(1L, (a, d) => a * d) * fanIn;
        }
        return total;
    }

    /// <summary>A tensor type; null <paramref name="dims"/>: no shape declared (left to inference).</summary>
    static TypeProto TensorType(int elemType, IEnumerable<long>? dims)
    {
        var type = new TypeProto.Types.Tensor { ElemType = elemType };
        if (dims is not null)
        {
            type.Shape = new TensorShapeProto();
            type.Shape.Dim.AddRange(dims.Select(d => new TensorShapeProto.Types.Dimension { DimValue = d }));
        }
        return new TypeProto { TensorType = type };
    }
}
