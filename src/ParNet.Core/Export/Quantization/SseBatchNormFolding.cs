using Onnx;
using ParNet.Fusion;
using TorchSharp;

namespace ParNet.Export.Quantization;

/// <summary>
/// Rewrites the skip-squeeze-excitation branch of each fused stream block, <c>BN(x) * g</c> with
/// <c>g = sigmoid(conv1x1(GlobalAveragePool(BN(x))))</c>, into the same function without a BatchNormalization on the
/// full feature map. BN is a per-channel affine map <c>s x + t</c> and pooling is linear, so
/// <c>GlobalAveragePool(BN(x)) = s GlobalAveragePool(x) + t</c> and <c>BN(x) g = x (s g) + t g</c>, where
/// <c>s g</c> and <c>t g</c> are per-channel vectors (1x1 maps).
/// Why, for int8: ONNX Runtime runs QLinearConv channels-last (NHWC) and puts a Transpose wherever a neighbour runs
/// only NCHW. BatchNormalization and a float GlobalAveragePool are such neighbours, so every stream block paid
/// full-size Transposes and a second Q/DQ pair (RESULTS.md, int8 profile on Zen 3). After the rewrite the full-size
/// maps meet only elementwise ops (Mul, Add, the activation), which run in either layout, and the pooling reads the
/// block input that the block's conv quantizes anyway (<see cref="QdqQuantizer"/> makes it QLinearGlobalAveragePool).
/// The same function up to float rounding, so only the int8 export uses it; the float32 export keeps the plain form.
/// </summary>
public static class SseBatchNormFolding
{
    /// <summary>A copy of <paramref name="model"/> with every BatchNormalization read by exactly one GlobalAveragePool
    /// and one Mul (an SSE branch) folded as above; other BatchNormalizations (the merge stages' input BNs) stay.</summary>
    public static ModelProto Apply(ModelProto model)
    {
        var result = model.Clone();
        var graph = result.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var readers = graph.Node.SelectMany(n => n.Input.Select(input => (input, n))).ToLookup(p => p.input, p => p.n, StringComparer.Ordinal);

        var folded = new Dictionary<string, (string X, string Scale, string Shift)>(StringComparer.Ordinal);
        var parameters = new HashSet<string>(StringComparer.Ordinal);   // the folded BNs' gamma, beta, mean, variance
        foreach (var bn in graph.Node.Where(n => n.OpType == "BatchNormalization"))
        {
            string y = bn.Output[0];
            if (!readers[y].Select(n => n.OpType).Order(StringComparer.Ordinal).SequenceEqual(["GlobalAveragePool", "Mul"])) continue;
            var (scale, shift) = Affine(bn, initializers);
            long[] dims = [1, scale.Length, 1, 1];
            graph.Initializer.Add(OnnxMessages.FloatTensor(y + "_bn_scale", dims, scale));
            graph.Initializer.Add(OnnxMessages.FloatTensor(y + "_bn_shift", dims, shift));
            folded[y] = (bn.Input[0], y + "_bn_scale", y + "_bn_shift");
            parameters.UnionWith(bn.Input.Skip(1));
        }

        var nodes = graph.Node.ToList();
        graph.Node.Clear();
        foreach (var node in nodes)
        {
            if (node.OpType == "BatchNormalization" && folded.ContainsKey(node.Output[0])) continue;
            if (node.OpType == "GlobalAveragePool" && folded.TryGetValue(node.Input[0], out var p))
            {
                // s * pool(x) + t, on the pooled 1x1 map
                string y = node.Output[0];
                graph.Node.Add(OnnxMessages.Node("GlobalAveragePool", node.Name, [p.X], [y + "_pooled"]));
                graph.Node.Add(OnnxMessages.Node("Mul", node.Name + "/bn_scale", [y + "_pooled", p.Scale], [y + "_pooled_scaled"]));
                graph.Node.Add(OnnxMessages.Node("Add", node.Name + "/bn_shift", [y + "_pooled_scaled", p.Shift], [y]));
            }
            else if (node.OpType == "Mul" && (folded.ContainsKey(node.Input[0]) || folded.ContainsKey(node.Input[1])))
            {
                // x * (s g) + t g: the products with the gate g stay on 1x1 maps
                bool first = folded.ContainsKey(node.Input[0]);
                var q = folded[node.Input[first ? 0 : 1]];
                string gate = node.Input[first ? 1 : 0], y = node.Output[0];
                graph.Node.Add(OnnxMessages.Node("Mul", node.Name + "/gate_scale", [gate, q.Scale], [y + "_gate_scale"]));
                graph.Node.Add(OnnxMessages.Node("Mul", node.Name + "/gate_shift", [gate, q.Shift], [y + "_gate_shift"]));
                graph.Node.Add(OnnxMessages.Node("Mul", node.Name + "/scaled", [q.X, y + "_gate_scale"], [y + "_scaled"]));
                graph.Node.Add(OnnxMessages.Node("Add", node.Name + "/shifted", [y + "_scaled", y + "_gate_shift"], [y]));
            }
            else graph.Node.Add(node);
        }
        var stillRead = graph.Node.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
        var keep = graph.Initializer.Where(t => !parameters.Contains(t.Name) || stillRead.Contains(t.Name)).ToList();
        graph.Initializer.Clear();
        graph.Initializer.AddRange(keep);
        return result;
    }

    /// <summary>The BN node's scale and shift (<see cref="FusionMath.BatchNormAffine(TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, double)"/>, the fusion's own identity).</summary>
    static (float[] Scale, float[] Shift) Affine(NodeProto bn, Dictionary<string, TensorProto> initializers)
    {
        using var scope = torch.NewDisposeScope();
        torch.Tensor Read(int input) => initializers.TryGetValue(bn.Input[input], out var t)
            ? torch.tensor(OnnxMessages.ReadFloats(t))
            : throw new InvalidDataException($"{bn.Name}: input '{bn.Input[input]}' is not an initializer; only constant BatchNormalizations fold");
        float epsilon = bn.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5f;   // ONNX's default
        // ONNX's inputs: X, scale (gamma), B (beta), input_mean, input_var
        var (scale, shift) = FusionMath.BatchNormAffine(Read(3), Read(4), Read(1), Read(2), epsilon);
        return (scale.data<float>().ToArray(), shift.data<float>().ToArray());
    }
}
