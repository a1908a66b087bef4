using Microsoft.ML.OnnxRuntime;
using ParNet.Export;
using ParNet.Runtime;

namespace ParNet.Inference;

/// <summary>
/// An exported ParNet run as the paper's Table 3 runs it: the stem and the streams' entries in one ONNX Runtime session,
/// each stream in its own session, all streams at once (one task each), then the merge stages and the head in a last
/// session (<see cref="OnnxStreamPartition"/>). Each stream's session has its own options: on a GPU machine one CUDA
/// device per stream, or the same device for all (each session then has its own CUDA stream); on the CPU a share of the
/// threads. Values cross the cuts in device memory where every part runs on the same CUDA device, else through host
/// memory (ONNX Runtime's IOBinding), which a timing includes.
/// Logits equal the single-session run of the whole graph (tests: within float32 rounding).
/// </summary>
public sealed class OnnxStreamParallelEngine : IDisposable
{
    readonly InferenceSession _entry, _merge;
    readonly InferenceSession?[] _streams;
    readonly string _input, _output;
    readonly OrtMemoryInfo _between;

    /// <param name="partition">a ParNet's export cut at its streams (<see cref="OnnxExporter.BuildStreamPartition"/>)</param>
    /// <param name="main">options of the entry and merge sessions</param>
    /// <param name="perStream">options of stream i's session (e.g. CUDA device i)</param>
    public OnnxStreamParallelEngine(OnnxStreamPartition partition, OnnxRuntimeOptions main, Func<int, OnnxRuntimeOptions> perStream)
    {
        var (entry, parts, merge) = partition.ToBytes();
        _input = partition.Entry.Graph.Input.Single().Name;
        _output = partition.Merge.Graph.Output.Single().Name;
        var streamOptions = Enumerable.Range(0, parts.Length).Select(perStream).ToArray();
        var opened = new List<InferenceSession>();
        try
        {
            _entry = Open(entry, main, opened);
            _streams = parts.Select((bytes, i) => bytes is null ? null : Open(bytes, streamOptions[i], opened)).ToArray();
            _merge = Open(merge, main, opened);
        }
        catch
        {
            foreach (var session in opened) session.Dispose();
            throw;
        }
        // Values between the parts stay on the device when every part runs on the same one (one GPU: no copy to the host
        // and back at each cut); parts on different devices exchange them through host memory.
        var devices = streamOptions.Select(o => o.CudaDevice).Append(main.CudaDevice).Distinct().ToArray();
        _between = devices is [int device] ? new OrtMemoryInfo("Cuda", OrtAllocatorType.DeviceAllocator, device, OrtMemType.Default) : OrtMemoryInfo.DefaultInstance;
    }

    /// <summary>Whether values between the parts stay in GPU memory (every part on the same CUDA device).</summary>
    public bool KeepsValuesOnGpu => !ReferenceEquals(_between, OrtMemoryInfo.DefaultInstance);

    static InferenceSession Open(byte[] model, OnnxRuntimeOptions options, List<InferenceSession> opened)
    {
        var session = options.OpenSession(model, "a part of the stream-parallel model");
        opened.Add(session);
        return session;
    }

    /// <summary>Logits for a float32 batch in NCHW order, as <see cref="OnnxRuntimeEngine.Run(float[], long[])"/>.</summary>
    public (float[] Data, long[] Shape) Run(float[] input, long[] shape) => _guard.Run(() =>
    {
        var values = new Dictionary<string, OrtValue>(StringComparer.Ordinal);
        var owned = new List<IDisposable>();   // the input and every output, alive until the merge has read them
        try
        {
            var image = OrtValue.CreateTensorValueFromMemory(input, shape);
            owned.Add(image);
            values[_input] = image;
            Collect(values, RunSession(_entry, values, _between, owned));
            var outputs = new Dictionary<string, OrtValue>[_streams.Length];
            Parallel.For(0, _streams.Length, new ParallelOptions { MaxDegreeOfParallelism = _streams.Length }, i =>
            {
                if (_streams[i] is { } session)
                {
                    var mine = new List<IDisposable>();
                    outputs[i] = RunSession(session, values, _between, mine);
                    lock (owned) owned.AddRange(mine);
                }
            });
            foreach (var streamOutputs in outputs) if (streamOutputs is not null) Collect(values, streamOutputs);
            var logits = RunSession(_merge, values, OrtMemoryInfo.DefaultInstance, owned)[_output];
            return (logits.GetTensorDataAsSpan<float>().ToArray(), logits.GetTensorTypeAndShape().Shape);
        }
        finally
        {
            foreach (var value in owned) value.Dispose();
        }
    });

    static void Collect(Dictionary<string, OrtValue> into, Dictionary<string, OrtValue> from)
    {
        foreach (var (name, value) in from) into[name] = value;
    }

    /// <summary>Runs a session on the values it reads (by name), its outputs left where <paramref name="outputsOn"/> says;
    /// they go into <paramref name="owned"/> for the caller to dispose.</summary>
    static Dictionary<string, OrtValue> RunSession(InferenceSession session, IReadOnlyDictionary<string, OrtValue> values,
                                                   OrtMemoryInfo outputsOn, List<IDisposable> owned)
    {
        using var binding = session.CreateIoBinding();
        foreach (var name in session.InputMetadata.Keys) binding.BindInput(name, values[name]);
        foreach (var name in session.OutputMetadata.Keys) binding.BindOutputToDevice(name, outputsOn);
        using var runOptions = new RunOptions();
        session.RunWithBinding(runOptions, binding);   // returns after ONNX Runtime synchronized its stream: the outputs are ready
        var results = binding.GetOutputValues();
        owned.Add(results);
        var names = binding.GetOutputNames();
        var made = new Dictionary<string, OrtValue>(StringComparer.Ordinal);
        for (int i = 0; i < names.Length; i++) made[names[i]] = results[i];
        return made;
    }

    readonly DisposeGuard _guard = new("this stream-parallel engine's ONNX Runtime sessions");

    public void Dispose() => _guard.Dispose(() =>
    {
        if (KeepsValuesOnGpu) _between.Dispose();
        _entry.Dispose();
        foreach (var s in _streams) s?.Dispose();
        _merge.Dispose();
    });
}
