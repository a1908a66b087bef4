using Microsoft.ML.OnnxRuntime;
using ParNet.Export;

namespace ParNet.Inference;

/// <summary>
/// An exported ParNet run as the paper's Table 3 runs it: the stem and the streams' entries in one ONNX Runtime session,
/// each stream in its own session, all streams at once (one task each), then the fusion blocks and the head in a last
/// session (<see cref="OnnxStreamPartition"/>). Each stream's session has its own options: on a GPU machine one CUDA
/// device per stream, or the same device for all (each session then has its own CUDA stream); on the CPU a share of the
/// threads. Values cross the cuts through host memory (ONNX Runtime's default outputs), which a timing includes.
/// Logits equal the single-session run of the whole graph (tests: within float32 rounding).
/// </summary>
public sealed class OnnxStreamParallelEngine : IDisposable
{
    readonly InferenceSession _entry, _merge;
    readonly InferenceSession?[] _streams;
    readonly string _input, _output;

    /// <param name="partition">a ParNet's export cut at its streams (<see cref="OnnxExporter.BuildStreamPartition"/>)</param>
    /// <param name="main">options of the entry and merge sessions</param>
    /// <param name="perStream">options of stream i's session (e.g. CUDA device i)</param>
    public OnnxStreamParallelEngine(OnnxStreamPartition partition, OnnxRuntimeOptions main, Func<int, OnnxRuntimeOptions> perStream)
    {
        var (entry, parts, merge) = partition.ToBytes();
        _input = partition.Entry.Graph.Input.Single().Name;
        _output = partition.Merge.Graph.Output.Single().Name;
        var opened = new List<InferenceSession>();
        try
        {
            _entry = Open(entry, main, opened);
            _streams = parts.Select((bytes, i) => bytes is null ? null : Open(bytes, perStream(i), opened)).ToArray();
            _merge = Open(merge, main, opened);
        }
        catch
        {
            foreach (var session in opened) session.Dispose();
            throw;
        }
    }

    static InferenceSession Open(byte[] model, OnnxRuntimeOptions options, List<InferenceSession> opened)
    {
        var session = options.OpenSession(model, "a part of the stream-parallel model");
        opened.Add(session);
        return session;
    }

    /// <summary>Logits for a float32 batch in NCHW order, as <see cref="OnnxRuntimeEngine.Run(float[], long[])"/>.</summary>
    public (float[] Data, long[] Shape) Run(float[] input, long[] shape)
    {
        var values = new Dictionary<string, (float[] Data, long[] Shape)>(StringComparer.Ordinal) { [_input] = (input, shape) };
        Collect(values, RunSession(_entry, values));
        var outputs = new Dictionary<string, (float[], long[])>[_streams.Length];
        Parallel.For(0, _streams.Length, new ParallelOptions { MaxDegreeOfParallelism = _streams.Length }, i =>
        {
            if (_streams[i] is { } session) outputs[i] = RunSession(session, values);
        });
        foreach (var streamOutputs in outputs) if (streamOutputs is not null) Collect(values, streamOutputs);
        return RunSession(_merge, values)[_output];
    }

    static void Collect(Dictionary<string, (float[], long[])> into, Dictionary<string, (float[], long[])> from)
    {
        foreach (var (name, value) in from) into[name] = value;
    }

    /// <summary>Runs a session on the values it reads (by name) and returns every output it makes, copied to host arrays.</summary>
    static Dictionary<string, (float[], long[])> RunSession(InferenceSession session, IReadOnlyDictionary<string, (float[] Data, long[] Shape)> values)
    {
        var names = session.InputMetadata.Keys.ToArray();
        var inputs = names.Select(n => OrtValue.CreateTensorValueFromMemory(values[n].Data, values[n].Shape)).ToArray();
        try
        {
            var outputNames = session.OutputMetadata.Keys.ToArray();
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, names, inputs, outputNames);
            var made = new Dictionary<string, (float[], long[])>(StringComparer.Ordinal);
            for (int i = 0; i < outputNames.Length; i++)
                made[outputNames[i]] = (results[i].GetTensorDataAsSpan<float>().ToArray(), results[i].GetTensorTypeAndShape().Shape);
            return made;
        }
        finally
        {
            foreach (var v in inputs) v.Dispose();
        }
    }

    public void Dispose()
    {
        _entry.Dispose();
        foreach (var s in _streams) s?.Dispose();
        _merge.Dispose();
    }
}
