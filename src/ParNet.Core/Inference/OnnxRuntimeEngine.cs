using Microsoft.ML.OnnxRuntime;
using ParNet.Export;
using static TorchSharp.torch;

namespace ParNet.Inference;

/// <summary>How ONNX Runtime runs a graph on the CPU.</summary>
public sealed record OnnxRuntimeOptions
{
    /// <summary>Threads inside one operator (0: ONNX Runtime's default, one per physical core).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>
    /// ORT_PARALLEL runs independent branches of the graph concurrently (ParNet's streams, the gate next to the
    /// conv): another way to run the streams side by side. Sequential (default) runs one node at a time.
    /// </summary>
    public bool Parallel { get; init; }

    /// <summary>Threads of the inter-op pool in parallel mode (0: default).</summary>
    public int InterOpThreads { get; init; }

    public GraphOptimizationLevel Optimization { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    public SessionOptions ToSessionOptions()
    {
        var o = new SessionOptions
        {
            GraphOptimizationLevel = Optimization,
            ExecutionMode = Parallel ? ExecutionMode.ORT_PARALLEL : ExecutionMode.ORT_SEQUENTIAL,
        };
        if (IntraOpThreads > 0) o.IntraOpNumThreads = IntraOpThreads;
        if (InterOpThreads > 0) o.InterOpNumThreads = InterOpThreads;
        return o;
    }
}

/// <summary>
/// Runs an exported model (<see cref="OnnxExporter"/>) with ONNX Runtime on the CPU: float32 images [N, C, H, W]
/// in, logits [N, classes] out. The ParNet metadata of the file (class names, configuration) is in <see cref="Info"/>.
/// One engine may be used from several threads (InferenceSession.Run is thread-safe).
/// </summary>
public sealed class OnnxRuntimeEngine : IDisposable
{
    readonly InferenceSession _session;

    public OnnxRuntimeEngine(string path, OnnxRuntimeOptions? options = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX model not found: {path}", path);
        using var sessionOptions = (options ?? new()).ToSessionOptions();
        try { _session = new InferenceSession(path, sessionOptions); }
        catch (OnnxRuntimeException e) { throw new InvalidDataException($"{path}: ONNX Runtime cannot load it ({e.Message})", e); }
        Options = options ?? new();
        (InputName, OutputName, InputShape, Info) = Describe(path);
    }

    /// <summary>A serialized model in memory (as <see cref="OnnxExporter.ExportToBytes"/> returns).</summary>
    public OnnxRuntimeEngine(byte[] model, OnnxRuntimeOptions? options = null)
    {
        using var sessionOptions = (options ?? new()).ToSessionOptions();
        try { _session = new InferenceSession(model, sessionOptions); }
        catch (OnnxRuntimeException e) { throw new InvalidDataException($"ONNX Runtime cannot load the model ({e.Message})", e); }
        Options = options ?? new();
        (InputName, OutputName, InputShape, Info) = Describe(null);
    }

    (string, string, long[], DeploymentInfo) Describe(string? source)
    {
        var input = _session.InputMetadata.Single();
        var output = _session.OutputMetadata.First();
        var meta = _session.ModelMetadata.CustomMetadataMap;
        Quantization = meta.TryGetValue(ParNet.Export.Quantization.QdqQuantizer.MetadataKey, out var q) ? q : null;
        return (input.Key, output.Key, input.Value.Dimensions.Select(d => (long)d).ToArray(),
            DeploymentInfo.FromMetadata(meta.ToDictionary(kv => kv.Key, kv => kv.Value), source));
    }

    public OnnxRuntimeOptions Options { get; }
    public string InputName { get; }
    public string OutputName { get; }
    /// <summary>The declared input shape; -1 for the dynamic batch.</summary>
    public long[] InputShape { get; }
    public DeploymentInfo Info { get; }
    /// <summary>How the model was quantized (`parnet export --int8`), or null for a float32 export.</summary>
    public string? Quantization { get; private set; }

    /// <summary>Logits for a float32 batch in NCHW order.</summary>
    public (float[] Data, long[] Shape) Run(float[] input, long[] shape)
    {
        CheckShape(shape);
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, [InputName], [value], [OutputName]);
        var result = outputs[0];
        var info = result.GetTensorTypeAndShape();
        return (result.GetTensorDataAsSpan<float>().ToArray(), info.Shape);
    }

    /// <summary>The same through TorchSharp tensors (copied to float32 CPU memory and back).</summary>
    public Tensor Run(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = input.detach().cpu().to(ScalarType.Float32).contiguous();
        var (data, shape) = Run(x.data<float>().ToArray(), x.shape);
        return tensor(data, shape).MoveToOuterDisposeScope();
    }

    void CheckShape(long[] shape)
    {
        if (shape.Length != InputShape.Length)
            throw new ArgumentException($"the model takes a {InputShape.Length}-d input [{string.Join(", ", InputShape)}]; got [{string.Join(", ", shape)}]");
        for (int i = 0; i < shape.Length; i++)
            if (InputShape[i] >= 0 && InputShape[i] != shape[i])
                throw new ArgumentException($"the model takes input [{string.Join(", ", InputShape.Select(d => d < 0 ? "N" : d.ToString()))}]" +
                                            $" (exported at a fixed image size); got [{string.Join(", ", shape)}]");
    }

    public void Dispose() => _session.Dispose();
}
