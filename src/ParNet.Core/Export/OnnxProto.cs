using Google.Protobuf;

namespace ParNet.Export;

/// <summary>
/// A minimal writer of the ONNX protobuf messages the exporter needs (ModelProto, GraphProto, NodeProto,
/// AttributeProto, TensorProto, ValueInfoProto, TypeProto, OperatorSetIdProto, StringStringEntryProto),
/// with the field numbers of onnx/onnx.proto, on Google.Protobuf's CodedOutputStream. No generated code:
/// a message is built as bytes and embedded in its parent as a length-delimited field.
/// </summary>
public sealed class ProtoMessage
{
    readonly MemoryStream _buffer = new();
    readonly CodedOutputStream _out;

    public ProtoMessage() => _out = new CodedOutputStream(_buffer, leaveOpen: true);

    public ProtoMessage Int64(int field, long value)
    {
        _out.WriteTag(field, WireFormat.WireType.Varint);
        _out.WriteInt64(value);
        return this;
    }

    public ProtoMessage Int32(int field, int value)
    {
        _out.WriteTag(field, WireFormat.WireType.Varint);
        _out.WriteInt32(value);
        return this;
    }

    public ProtoMessage Float(int field, float value)
    {
        _out.WriteTag(field, WireFormat.WireType.Fixed32);
        _out.WriteFloat(value);
        return this;
    }

    public ProtoMessage String(int field, string value)
    {
        _out.WriteTag(field, WireFormat.WireType.LengthDelimited);
        _out.WriteString(value);
        return this;
    }

    public ProtoMessage Bytes(int field, ReadOnlyMemory<byte> value)
    {
        _out.WriteTag(field, WireFormat.WireType.LengthDelimited);
        _out.WriteBytes(UnsafeByteOperations.UnsafeWrap(value));
        return this;
    }

    public ProtoMessage Message(int field, ProtoMessage message) => Bytes(field, message.ToMemory());

    /// <summary>A packed repeated int64 (TensorProto.dims, AttributeProto.ints).</summary>
    public ProtoMessage PackedInt64(int field, IReadOnlyList<long> values)
    {
        _out.WriteTag(field, WireFormat.WireType.LengthDelimited);
        _out.WriteLength(values.Sum(CodedOutputStream.ComputeInt64Size));
        foreach (var v in values) _out.WriteInt64(v);
        return this;
    }

    public ReadOnlyMemory<byte> ToMemory()
    {
        _out.Flush();
        return _buffer.GetBuffer().AsMemory(0, (int)_buffer.Length);
    }

    public void WriteTo(Stream stream)
    {
        var bytes = ToMemory();
        stream.Write(bytes.Span);
    }
}

/// <summary>ONNX message builders (field numbers from onnx.proto).</summary>
public static class Onnx
{
    /// <summary>TensorProto.DataType.</summary>
    public const int Float = 1, Int64 = 7;

    /// <summary>AttributeProto.AttributeType.</summary>
    const int AttrFloat = 1, AttrInt = 2, AttrString = 3, AttrInts = 7;

    public static ProtoMessage Model(long irVersion, string producer, string producerVersion, int opset,
                                     ProtoMessage graph, IEnumerable<KeyValuePair<string, string>> metadata, string docString = "")
    {
        var m = new ProtoMessage().Int64(1, irVersion).String(2, producer).String(3, producerVersion);
        if (docString.Length > 0) m.String(6, docString);
        m.Message(7, graph);
        m.Message(8, new ProtoMessage().String(1, "").Int64(2, opset));   // OperatorSetIdProto: domain "" = ai.onnx
        foreach (var (key, value) in metadata)
            m.Message(14, new ProtoMessage().String(1, key).String(2, value));   // StringStringEntryProto
        return m;
    }

    public static ProtoMessage Graph(string name, IEnumerable<ProtoMessage> nodes, IEnumerable<ProtoMessage> initializers,
                                     IEnumerable<ProtoMessage> inputs, IEnumerable<ProtoMessage> outputs)
    {
        var g = new ProtoMessage();
        foreach (var n in nodes) g.Message(1, n);
        g.String(2, name);
        foreach (var t in initializers) g.Message(5, t);
        foreach (var i in inputs) g.Message(11, i);
        foreach (var o in outputs) g.Message(12, o);
        return g;
    }

    public static ProtoMessage Node(string opType, string name, string[] inputs, string[] outputs, params ProtoMessage[] attributes)
    {
        var n = new ProtoMessage();
        foreach (var i in inputs) n.String(1, i);
        foreach (var o in outputs) n.String(2, o);
        n.String(3, name).String(4, opType);
        foreach (var a in attributes) n.Message(5, a);
        return n;
    }

    public static ProtoMessage Attribute(string name, long value) => new ProtoMessage().String(1, name).Int64(3, value).Int32(20, AttrInt);
    public static ProtoMessage Attribute(string name, float value) => new ProtoMessage().String(1, name).Float(2, value).Int32(20, AttrFloat);
    public static ProtoMessage Attribute(string name, string value) => new ProtoMessage().String(1, name).Bytes(4, System.Text.Encoding.UTF8.GetBytes(value)).Int32(20, AttrString);
    public static ProtoMessage Attribute(string name, long[] values) => new ProtoMessage().String(1, name).PackedInt64(8, values).Int32(20, AttrInts);

    /// <summary>An initializer: dims, data type, name, little-endian raw data.</summary>
    public static ProtoMessage Tensor(string name, long[] dims, int dataType, ReadOnlyMemory<byte> raw)
    {
        var t = new ProtoMessage();
        if (dims.Length > 0) t.PackedInt64(1, dims);
        return t.Int32(2, dataType).String(8, name).Bytes(9, raw);
    }

    public static ProtoMessage FloatTensor(string name, long[] dims, float[] values)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw data is little-endian");
        var bytes = new byte[values.Length * sizeof(float)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return Tensor(name, dims, Float, bytes);
    }

    public static ProtoMessage Int64Tensor(string name, long[] values)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw data is little-endian");
        var bytes = new byte[values.Length * sizeof(long)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return Tensor(name, [values.Length], Int64, bytes);
    }

    /// <summary>ValueInfoProto of a tensor; a null dimension is symbolic (named by <paramref name="symbols"/>).</summary>
    public static ProtoMessage ValueInfo(string name, int elemType, long?[] dims, string symbol = "batch")
    {
        var shape = new ProtoMessage();
        foreach (var d in dims)
            shape.Message(1, d is long v ? new ProtoMessage().Int64(1, v) : new ProtoMessage().String(2, symbol));   // Dimension
        var tensorType = new ProtoMessage().Int32(1, elemType).Message(2, shape);   // TypeProto.Tensor
        var type = new ProtoMessage().Message(1, tensorType);                        // TypeProto
        return new ProtoMessage().String(1, name).Message(2, type);
    }
}
