using Google.Protobuf;
using Onnx;

namespace ParNet.Export;

/// <summary>
/// An exported ParNet cut into graphs that run one after another and side by side (the paper's Table 3 setup in ONNX):
/// <see cref="Entry"/> (the stem and the entries of the streams), one graph per stream (<see cref="Streams"/>; null for
/// a stream without blocks), and <see cref="Merge"/> (the merge stages and the head). Made by <see cref="OnnxExporter.BuildStreamPartition"/>. Every node of the whole graph
/// is in exactly one part; a value that crosses a cut is an output of the part that makes it and an input of every
/// part that reads it, under its name in the whole graph.
/// </summary>
public sealed record OnnxStreamPartition(ModelProto Entry, IReadOnlyList<ModelProto?> Streams, ModelProto Merge)
{
    /// <summary>
    /// Cuts a whole graph at its streams: stream i is every node between its input value and its output value
    /// (<paramref name="streams"/>, the values of the trace's stages inits.i and streams.i: <see cref="OnnxExporter.StreamBoundaries"/>),
    /// the entry every node the streams' inputs depend on, the merge the rest. A stream whose input is its output (no blocks)
    /// has no part. InvalidDataException for a graph that does not cut so (a stream that reads anything but its input and
    /// weights, a stream input made by another stream).
    /// </summary>
    public static OnnxStreamPartition Split(ModelProto whole, IReadOnlyList<(string Input, string Output)> streams)
    {
        if (streams.Count < 1) throw new ArgumentException("a ParNet has at least one stream", nameof(streams));
        var graph = whole.Graph;
        var nodes = graph.Node.ToList();
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var graphInput = graph.Input.Select(i => i.Name).Where(n => !initializers.ContainsKey(n)).Single();
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < nodes.Count; i++)
            foreach (var output in nodes[i].Output) producer[output] = i;

        var part = new int[nodes.Count];   // 0: entry, 1 + i: stream i, -1: merge
        Array.Fill(part, -1);
        // Walks back from a value to the nodes that make it, stopping at `stop` and at weights; marks them `id`.
        void Claim(string value, string? stop, int id, string what)
        {
            var pending = new Stack<string>([value]);
            while (pending.Count > 0)
            {
                string v = pending.Pop();
                if (v == stop || initializers.ContainsKey(v) || v.Length == 0) continue;
                if (!producer.TryGetValue(v, out int n))
                    throw new InvalidDataException($"{graph.Name}: {what} reads '{v}', which is not its input");
                if (part[n] == id) continue;
                if (part[n] != -1) throw new InvalidDataException($"{graph.Name}: {what} reaches a node of {(part[n] == 0 ? "the entry" : $"stream {part[n] - 1}")}");
                part[n] = id;
                foreach (var input in nodes[n].Input) pending.Push(input);
            }
        }
        for (int s = 0; s < streams.Count; s++)
            if (streams[s].Input != streams[s].Output) Claim(streams[s].Output, streams[s].Input, 1 + s, $"stream {s}");
        foreach (var (input, _) in streams)
            if (input != graphInput) Claim(input, graphInput, 0, "the streams' entry");
        if (!part.Contains(0))
            throw new InvalidDataException($"{graph.Name}: the streams do not start from a stem that reads the image input '{graphInput}'");

        var consumers = new Dictionary<string, HashSet<int>>(StringComparer.Ordinal);   // value -> parts that read it
        for (int i = 0; i < nodes.Count; i++)
            foreach (var input in nodes[i].Input)
                (consumers.TryGetValue(input, out var set) ? set : consumers[input] = []).Add(part[i]);
        string wholeOutput = graph.Output.Single().Name;

        ModelProto Part(int id, string name)
        {
            var mine = Enumerable.Range(0, nodes.Count).Where(i => part[i] == id).Select(i => nodes[i]).ToList();
            var made = mine.SelectMany(n => n.Output).ToHashSet(StringComparer.Ordinal);
            var inputs = mine.SelectMany(n => n.Input).Where(v => v.Length > 0 && !made.Contains(v) && !initializers.ContainsKey(v))
                .Distinct().ToList();
            var outputs = mine.SelectMany(n => n.Output).Where(v => v == wholeOutput || consumers.TryGetValue(v, out var c) && c.Any(p => p != id))
                .Distinct().ToList();
            if (id > 0 && (inputs.Count != 1 || outputs.Count != 1))
                throw new InvalidDataException($"{graph.Name}: stream {id - 1} has {inputs.Count} inputs and {outputs.Count} outputs; one of each expected");
            var weights = mine.SelectMany(n => n.Input).Where(initializers.ContainsKey).Distinct().Select(v => initializers[v]);
            var partGraph = OnnxMessages.Graph($"{graph.Name}/{name}", mine, weights, inputs.Select(Untyped), outputs.Select(Untyped));
            var model = new ModelProto { IrVersion = whole.IrVersion, ProducerName = whole.ProducerName, ProducerVersion = whole.ProducerVersion, Graph = partGraph };
            model.OpsetImport.AddRange(whole.OpsetImport);
            model.MetadataProps.AddRange(whole.MetadataProps);
            return model;
        }

        var streamParts = Enumerable.Range(0, streams.Count).Select(s => part.Contains(1 + s) ? Part(1 + s, $"streams.{s}") : null).ToList();
        return new OnnxStreamPartition(Part(0, "entry"), streamParts, Part(-1, "merge"));
    }

    /// <summary>A float tensor value of unknown shape: the parts are cut from a graph whose shapes ONNX Runtime infers.</summary>
    static ValueInfoProto Untyped(string name) =>
        new() { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } } };

    /// <summary>The serialized parts, for InferenceSession.</summary>
    public (byte[] Entry, byte[]?[] Streams, byte[] Merge) ToBytes() =>
        (Entry.ToByteArray(), Streams.Select(s => s?.ToByteArray()).ToArray(), Merge.ToByteArray());
}
