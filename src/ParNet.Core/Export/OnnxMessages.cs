using Google.Protobuf;
using Onnx;

namespace ParNet.Export;

/// <summary>
/// Short constructors for the ONNX messages the exporter writes, on OnnxSharp's classes generated from
/// onnx/onnx.proto (OnnxSharp 0.3.2, built against Google.Protobuf 3.29.3; it runs on the solution's 3.36.2,
/// the runtime reading and writing older generated code). Raw tensor data is wrapped, not copied.
/// </summary>
public static class OnnxMessages
{
    public static ModelProto Model(long irVersion, string producer, string producerVersion, int opset,
                                   GraphProto graph, IEnumerable<KeyValuePair<string, string>> metadata, string docString = "")
    {
        var model = new ModelProto { IrVersion = irVersion, ProducerName = producer, ProducerVersion = producerVersion, Graph = graph };
        if (docString.Length > 0) model.DocString = docString;
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });   // domain "" = ai.onnx
        foreach (var (key, value) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model;
    }

    public static GraphProto Graph(string name, IEnumerable<NodeProto> nodes, IEnumerable<TensorProto> initializers,
                                   IEnumerable<ValueInfoProto> inputs, IEnumerable<ValueInfoProto> outputs)
    {
        var graph = new GraphProto { Name = name };
        graph.Node.AddRange(nodes);
        graph.Initializer.AddRange(initializers);
        graph.Input.AddRange(inputs);
        graph.Output.AddRange(outputs);
        return graph;
    }

    public static NodeProto Node(string opType, string name, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    public static AttributeProto Attribute(string name, long value) => new() { Name = name, I = value, Type = AttributeProto.Types.AttributeType.Int };
    public static AttributeProto Attribute(string name, float value) => new() { Name = name, F = value, Type = AttributeProto.Types.AttributeType.Float };
    public static AttributeProto Attribute(string name, string value) => new() { Name = name, S = ByteString.CopyFromUtf8(value), Type = AttributeProto.Types.AttributeType.String };

    public static AttributeProto Attribute(string name, long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    /// <summary>An initializer: dims, data type, name, little-endian raw data.</summary>
    public static TensorProto Tensor(string name, long[] dims, TensorProto.Types.DataType dataType, ReadOnlyMemory<byte> raw)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw data is little-endian");
        var tensor = new TensorProto { Name = name, DataType = (int)dataType, RawData = UnsafeByteOperations.UnsafeWrap(raw) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }

    public static TensorProto FloatTensor(string name, long[] dims, float[] values)
    {
        var bytes = new byte[values.Length * sizeof(float)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return Tensor(name, dims, TensorProto.Types.DataType.Float, bytes);
    }

    /// <summary>The values of a float32 initializer (raw data or the float_data field).</summary>
    public static float[] ReadFloats(TensorProto t)
    {
        if (t.DataType != (int)TensorProto.Types.DataType.Float) throw new InvalidDataException($"{t.Name}: float32 expected, data type {t.DataType}");
        if (t.RawData.Length == 0) return t.FloatData.ToArray();
        var values = new float[t.RawData.Length / sizeof(float)];
        Buffer.BlockCopy(t.RawData.ToByteArray(), 0, values, 0, t.RawData.Length);
        return values;
    }

    public static TensorProto Int64Tensor(string name, long[] values)
    {
        var bytes = new byte[values.Length * sizeof(long)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return Tensor(name, [values.Length], TensorProto.Types.DataType.Int64, bytes);
    }

    /// <summary>ValueInfoProto of a tensor; a null dimension is symbolic, named <paramref name="symbol"/>.</summary>
    public static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType elemType, long?[] dims, string symbol = "batch")
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is long v ? new TensorShapeProto.Types.Dimension { DimValue = v } : new TensorShapeProto.Types.Dimension { DimParam = symbol });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)elemType, Shape = shape } } };
    }
}
