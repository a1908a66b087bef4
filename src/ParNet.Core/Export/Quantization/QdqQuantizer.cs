using System.Globalization;
using Google.Protobuf;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace ParNet.Export.Quantization;

/// <summary>Which parts of the fused network the int8 export quantizes.</summary>
public sealed record Int8Options
{
    /// <summary>
    /// The SSE gates' 1x1 convs (key "se.cvsig.conv") run on a 1x1 pooled map: quantizing them saves no time and their
    /// sigmoid scales whole feature maps, so they stay float32 by default (RESULTS.md, int8: measured both ways).
    /// </summary>
    public bool QuantizeGates { get; init; }

    /// <summary>The classifier's Gemm is one small matrix product per image; float32 by default for the same reason.</summary>
    public bool QuantizeHead { get; init; }

    /// <summary>
    /// A GlobalAveragePool that reads the input of a quantized conv (the SSE gates' pooling after
    /// <see cref="SseBatchNormFolding"/>, the downsampling gates' pooling) reads that input's uint8 copy and writes a
    /// uint8 1x1 map: ONNX Runtime runs it as QLinearGlobalAveragePool on the channels-last map, where a float pooling
    /// made it transpose the whole map back to NCHW. On by default: the pooled vector only feeds a sigmoid gate, and with
    /// it two Zen 3 main-job models stayed within 0.21 points of float32 top-1, as the export before it did (RESULTS.md, int8).
    /// </summary>
    public bool QuantizePooling { get; init; } = true;

    /// <summary>Calibration images: min/max over this many (the CLI's --calibration N).</summary>
    public int CalibrationImages { get; init; }

    /// <summary>Where the calibration images came from, stored as <see cref="QdqQuantizer.CalibrationKey"/> (null: not said,
    /// e.g. noise for timing): the file only said how many (an export audit of session 48).</summary>
    public CalibrationSet? CalibrationSource { get; init; }
}

/// <summary>The data set, the folder read (a full path; null: none given and no standard place) and class ids (null: all) the calibration images were drawn
/// from, at random with <see cref="Seed"/> (<see cref="Int8Exporter.CalibrationImages"/>).</summary>
public sealed record CalibrationSet(string Dataset, string? DataDirectory, IReadOnlyList<int>? Classes)
{
    /// <summary>The seed of <see cref="Int8Exporter.CalibrationImages"/>' draw.</summary>
    public const int Seed = 0;
}

/// <summary>
/// Static QDQ quantization of an exported float32 graph (<see cref="OnnxExporter"/>), a pass over its nodes: each
/// selected Conv (and, optionally, the Gemm head) reads its input through QuantizeLinear -> DequantizeLinear (uint8,
/// calibrated scale), its weight as int8 per-channel symmetric (axis 0) through DequantizeLinear, its bias as int32,
/// and writes its output through QuantizeLinear -> DequantizeLinear; with <see cref="Int8Options.QuantizePooling"/> the
/// gates' GlobalAveragePool reads such a DQ copy and writes through Q -> DQ too. Everything between (SiLU, the gates'
/// 1x1 maps and sigmoid, the SSE branch's products, adds, the merge stages' BNs, the head) stays float32. This is the
/// form ONNX Runtime's QDQ transformer fuses into QLinearConv and QLinearGlobalAveragePool (all inputs from DQ, every
/// consumer of the output a Q).
/// </summary>
public static class QdqQuantizer
{
    public const string MetadataKey = "parnet.quantization";

    /// <summary>The calibration's source as JSON: {"images": N, "dataset": NAME, "data_dir": DIR or null, "classes": [ids] or
    /// null, "seed": 0}.</summary>
    public const string CalibrationKey = "parnet.int8_calibration";

    /// <summary>A conv of an SSE gate (state-dict key ...se.cvsig.conv): its node names start with the key.</summary>
    public static bool IsGate(NodeProto node) => node.Name.Contains(".se.cvsig.", StringComparison.Ordinal) || node.Name.StartsWith("se.cvsig.", StringComparison.Ordinal);

    /// <summary>The Conv and Gemm nodes the options select.</summary>
    public static IReadOnlyList<NodeProto> Selected(GraphProto graph, Int8Options options) => graph.Node
        .Where(n => n.OpType switch
        {
            "Conv" => options.QuantizeGates || !IsGate(n),
            "Gemm" => options.QuantizeHead,
            _ => false,
        })
        .ToList();

    /// <summary>The GlobalAveragePool nodes quantized with <see cref="Int8Options.QuantizePooling"/>: those reading the input of a selected conv.</summary>
    public static IReadOnlyList<NodeProto> SelectedPooling(GraphProto graph, Int8Options options)
    {
        if (!options.QuantizePooling) return [];
        var quantizedInputs = Selected(graph, options).Where(n => n.OpType == "Conv").Select(n => n.Input[0]).ToHashSet(StringComparer.Ordinal);
        return graph.Node.Where(n => n.OpType == "GlobalAveragePool" && quantizedInputs.Contains(n.Input[0])).ToList();
    }

    /// <summary>The activations that need a calibrated range: inputs of every selected node, outputs of the selected convs and poolings.</summary>
    public static IReadOnlyList<string> ValuesToCalibrate(GraphProto graph, Int8Options options)
    {
        var values = new List<string>();
        foreach (var node in Selected(graph, options))
        {
            if (!values.Contains(node.Input[0])) values.Add(node.Input[0]);
            if (node.OpType == "Conv" && !values.Contains(node.Output[0])) values.Add(node.Output[0]);
        }
        values.AddRange(SelectedPooling(graph, options).Select(n => n.Output[0]).Where(v => !values.Contains(v)));
        return values;
    }

    /// <summary>The quantized copy of <paramref name="model"/> (left unchanged), given the calibrated range of every value of <see cref="ValuesToCalibrate"/>.</summary>
    public static ModelProto Quantize(ModelProto model, IReadOnlyDictionary<string, ActivationRange> ranges, Int8Options options)
    {
        var result = model.Clone();
        var graph = result.Graph;
        var selected = Selected(graph, options).Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        var pooling = SelectedPooling(graph, options).Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        var pass = new Pass(graph, ranges);
        var nodes = graph.Node.ToList();
        graph.Node.Clear();
        foreach (var node in nodes)
        {
            if (selected.Contains(node.Name)) pass.Rewrite(node, graph.Node);
            else if (pooling.Contains(node.Name)) pass.RewritePooling(node, graph.Node);
            else graph.Node.Add(node);
        }
        pass.RemoveUnusedInitializers();

        result.MetadataProps.Add(new StringStringEntryProto
        {
            Key = MetadataKey,
            Value = string.Create(CultureInfo.InvariantCulture,
                $"int8 QDQ: {selected.Count} of {nodes.Count(n => n.OpType is "Conv" or "Gemm")} Conv/Gemm nodes; weights int8 per-channel symmetric, " +
                $"activations uint8 min/max over {options.CalibrationImages} calibration images; gates {(options.QuantizeGates ? "int8" : "float32")}, " +
                $"head {(options.QuantizeHead ? "int8" : "float32")}; {pooling.Count} gate poolings uint8"),
        });
        if (options.CalibrationSource is { } source)
            result.MetadataProps.Add(new StringStringEntryProto
            {
                Key = CalibrationKey,
                Value = System.Text.Json.JsonSerializer.Serialize(new
                {
                    images = options.CalibrationImages, dataset = source.Dataset, data_dir = source.DataDirectory, classes = source.Classes, seed = CalibrationSet.Seed,
                }),
            });
        result.DocString = (result.DocString.Length > 0 ? result.DocString + ", " : "") + "int8 (QDQ)";
        return result;
    }

    sealed class Pass(GraphProto graph, IReadOnlyDictionary<string, ActivationRange> ranges)
    {
        readonly Dictionary<string, TensorProto> _initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        /// <summary>Activation value -> the name of its dequantized copy (each value is quantized once, whoever reads it).</summary>
        readonly Dictionary<string, string> _dequantized = new(StringComparer.Ordinal);
        readonly Dictionary<string, ActivationQuantization> _parameters = new(StringComparer.Ordinal);
        readonly HashSet<string> _replaced = new(StringComparer.Ordinal);

        public void Rewrite(NodeProto node, Google.Protobuf.Collections.RepeatedField<NodeProto> output)
        {
            string input = node.Input[0], weightName = node.Input[1];
            var x = Parameters(input);
            node.Input[0] = Dequantized(input, output);

            var weight = Initializer(weightName);
            int channels = (int)weight.Dims[0];
            var (q, scales) = QuantizationMath.QuantizeWeightsPerChannel(OnnxMessages.ReadFloats(weight), channels);
            node.Input[1] = PerChannel(weightName, weight.Dims.ToArray(), DataType.Int8, Bytes(q), scales, output);

            if (node.Input.Count > 2 && node.Input[2].Length > 0)
            {
                string biasName = node.Input[2];
                var (b, biasScales) = QuantizationMath.QuantizeBias(OnnxMessages.ReadFloats(Initializer(biasName)), x.Scale, scales);
                node.Input[2] = PerChannel(biasName, [channels], DataType.Int32, Bytes(b), biasScales, output);
            }

            if (node.OpType != "Conv")   // the Gemm head: float logits out
            {
                output.Add(node);
                return;
            }
            QuantizeOutput(node, output);
        }

        /// <summary>A GlobalAveragePool reading a quantized value: through its DQ copy (DQ -> pool -> Q: QLinearGlobalAveragePool).</summary>
        public void RewritePooling(NodeProto node, Google.Protobuf.Collections.RepeatedField<NodeProto> output)
        {
            node.Input[0] = Dequantized(node.Input[0], output);
            QuantizeOutput(node, output);
        }

        /// <summary>The node writes a private value; Q -> DQ restore the old name for every consumer.</summary>
        void QuantizeOutput(NodeProto node, Google.Protobuf.Collections.RepeatedField<NodeProto> output)
        {
            string y = node.Output[0];
            node.Output[0] = y + "_float";
            output.Add(node);
            var p = Parameters(y);
            string scale = Scalar(y + "_scale", p.Scale), zero = ZeroPoint(y + "_zero_point", p.ZeroPoint);
            output.Add(OnnxMessages.Node("QuantizeLinear", y + "/QuantizeLinear", [y + "_float", scale, zero], [y + "_quantized"]));
            output.Add(OnnxMessages.Node("DequantizeLinear", y + "/DequantizeLinear", [y + "_quantized", scale, zero], [y]));
            _dequantized[y] = y;   // already the output of a DQ
        }

        ActivationQuantization Parameters(string value)
        {
            if (_parameters.TryGetValue(value, out var p)) return p;
            if (!ranges.TryGetValue(value, out var range)) throw new ArgumentException($"no calibrated range for the activation '{value}'");
            return _parameters[value] = QuantizationMath.ForActivation(range);
        }

        string Dequantized(string value, Google.Protobuf.Collections.RepeatedField<NodeProto> output)
        {
            if (_dequantized.TryGetValue(value, out var name)) return name;
            var p = Parameters(value);
            string scale = Scalar(value + "_scale", p.Scale), zero = ZeroPoint(value + "_zero_point", p.ZeroPoint);
            output.Add(OnnxMessages.Node("QuantizeLinear", value + "/QuantizeLinear", [value, scale, zero], [value + "_quantized"]));
            output.Add(OnnxMessages.Node("DequantizeLinear", value + "/DequantizeLinear", [value + "_quantized", scale, zero], [value + "_dequantized"]));
            return _dequantized[value] = value + "_dequantized";
        }

        /// <summary>A quantized initializer with per-channel scales and zero points 0, read through DequantizeLinear(axis 0).</summary>
        string PerChannel(string name, long[] dims, DataType type, byte[] raw, float[] scales, Google.Protobuf.Collections.RepeatedField<NodeProto> output)
        {
            _replaced.Add(name);
            Add(OnnxMessages.Tensor(name + "_quantized", dims, type, raw));
            Add(OnnxMessages.FloatTensor(name + "_scale", [scales.Length], scales));
            Add(OnnxMessages.Tensor(name + "_zero_point", [scales.Length], type, new byte[scales.Length * (type == DataType.Int32 ? 4 : 1)]));
            output.Add(OnnxMessages.Node("DequantizeLinear", name + "/DequantizeLinear", [name + "_quantized", name + "_scale", name + "_zero_point"],
                [name + "_dequantized"], OnnxMessages.Attribute("axis", 0L)));
            return name + "_dequantized";
        }

        string Scalar(string name, float value)
        {
            if (!_initializers.ContainsKey(name)) Add(OnnxMessages.FloatTensor(name, [], [value]));
            return name;
        }

        string ZeroPoint(string name, byte value)
        {
            if (!_initializers.ContainsKey(name)) Add(OnnxMessages.Tensor(name, [], DataType.Uint8, new[] { value }));
            return name;
        }

        void Add(TensorProto tensor)
        {
            _initializers[tensor.Name] = tensor;
            graph.Initializer.Add(tensor);
        }

        TensorProto Initializer(string name) =>
            _initializers.TryGetValue(name, out var t) ? t : throw new InvalidDataException($"'{name}' is not an initializer: only constant weights are quantized");

        static byte[] Bytes<T>(T[] values) where T : struct
        {
            var bytes = new byte[Buffer.ByteLength(values)];
            Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
            return bytes;
        }

        /// <summary>The float weights the pass replaced go, unless another node still reads them.</summary>
        public void RemoveUnusedInitializers()
        {
            var used = graph.Node.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
            var keep = graph.Initializer.Where(t => !_replaced.Contains(t.Name) || used.Contains(t.Name)).ToList();
            graph.Initializer.Clear();
            graph.Initializer.AddRange(keep);
        }
    }
}
