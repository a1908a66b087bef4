using Google.Protobuf;
using Onnx;

namespace ParNet.Export;

/// <summary>
/// A fused ParNet's export without its weights' data, to carry to a machine where the weights would not fit (a lent GPU
/// machine takes 64 MiB per call; ParNet-XL's weights are 340 MB; scripts/gpu-pack.sh): FILE.whole.onnx,
/// FILE.entry.onnx, FILE.stream{i}.onnx (a stream without blocks has none) and FILE.merge.onnx. Reading refills every conv
/// and Gemm weight from a seed of its name, N(0, 2 / fan-in) (fan-in: the product of the dims after the first), so the
/// whole graph and the parts hold the same values and the parts' output equals the whole's.
/// </summary>
public static class WeightlessOnnx
{
    /// <summary>Writes <paramref name="whole"/> and <paramref name="partition"/> (of the same export) under PREFIX.*, their conv
    /// and Gemm weights' data dropped (shapes kept).</summary>
    public static void Write(string prefix, ModelProto whole, OnnxStreamPartition partition)
    {
        Save(whole, prefix + ".whole.onnx");
        Save(partition.Entry, prefix + ".entry.onnx");
        for (int i = 0; i < partition.Streams.Count; i++)
            if (partition.Streams[i] is { } stream) Save(stream, $"{prefix}.stream{i}.onnx");
        Save(partition.Merge, prefix + ".merge.onnx");
        File.WriteAllText(prefix + ".streams", partition.Streams.Count.ToString());
    }

    /// <summary>Reads what <see cref="Write"/> wrote, the dropped weights refilled (the same values on every read).</summary>
    public static (ModelProto Whole, OnnxStreamPartition Partition) Read(string prefix)
    {
        if (!File.Exists(prefix + ".streams"))
            throw new FileNotFoundException($"no weightless graphs at {prefix}.* (WeightlessOnnx.Write makes them)", prefix + ".streams");
        if (!int.TryParse(File.ReadAllText(prefix + ".streams"), out int streams) || streams < 1)
            throw new InvalidDataException($"{prefix}.streams: expected the stream count, a positive integer");
        var parts = Enumerable.Range(0, streams).Select(i => File.Exists($"{prefix}.stream{i}.onnx") ? Load($"{prefix}.stream{i}.onnx") : null).ToArray();
        return (Load(prefix + ".whole.onnx"), new OnnxStreamPartition(Load(prefix + ".entry.onnx"), parts, Load(prefix + ".merge.onnx")));
    }

    static void Save(ModelProto model, string path)
    {
        var copy = model.Clone();
        foreach (var t in copy.Graph.Initializer.Where(IsDroppedWeight))
        {
            t.RawData = ByteString.Empty;
            t.FloatData.Clear();
        }
        File.WriteAllBytes(path, copy.ToByteArray());
    }

    /// <summary>Conv and Gemm weights (float, 2-d or more): nearly all the bytes. Vectors (biases, the identity branches'
    /// BatchNormalization statistics, whose variance must stay positive) and constants keep their exported values.</summary>
    static bool IsDroppedWeight(TensorProto t) => t.DataType == (int)TensorProto.Types.DataType.Float && t.Dims.Count >= 2;

    static ModelProto Load(string path)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        foreach (var t in model.Graph.Initializer.Where(t => IsDroppedWeight(t) && t.RawData.IsEmpty && t.FloatData.Count == 0))
            t.RawData = ByteString.CopyFrom(Fill(t.Name, t.Dims.ToArray()));
        return model;
    }

    static byte[] Fill(string name, long[] dims)
    {
        long count = dims.Aggregate(1L, (a, d) => a * d), fanIn = dims.Skip(1).Aggregate(1L, (a, d) => a * d);
        double std = Math.Sqrt(2.0 / fanIn);
        uint seed = 2166136261;   // FNV-1a of the name: the same values wherever the weight appears
        foreach (char c in name) seed = (seed ^ c) * 16777619;
        var random = new Random((int)seed);
        var values = new float[count];
        for (long i = 0; i < count; i++)   // Box-Muller
            values[i] = (float)(std * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        var bytes = new byte[count * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return bytes;
    }
}
