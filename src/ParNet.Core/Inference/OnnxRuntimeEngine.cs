using ParNet.Runtime;
using Microsoft.ML.OnnxRuntime;
using ParNet.Export;
using static TorchSharp.torch;

namespace ParNet.Inference;

/// <summary>How ONNX Runtime runs a graph: on the CPU, or on a CUDA device.</summary>
public sealed record OnnxRuntimeOptions
{
    /// <summary>
    /// The CUDA device to run on with ONNX Runtime's CUDA execution provider; null: the CPU. Only a build against
    /// Microsoft.ML.OnnxRuntime.Gpu.Linux has that provider (<c>dotnet build -p:OnnxRuntimeGpu=true</c>, needing CUDA 13 and
    /// cuDNN 9 at run time; scripts/gpu-bench.sh); the default build's CPU package refuses it, and a GPU build without those
    /// libraries fails to start it: both with <see cref="NotSupportedException"/>.
    /// </summary>
    public int? CudaDevice { get; init; }

    /// <summary>Whether this process's ONNX Runtime has the CUDA execution provider (a GPU build).</summary>
    public static bool CudaAvailable => OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider");

    /// <summary>Starts the CUDA execution provider on <paramref name="device"/> once, so that a missing provider or missing CUDA
    /// libraries are reported (NotSupportedException) before any work, not in the middle of it.</summary>
    public static void CheckCuda(int device = 0)
    {
        using var probe = new OnnxRuntimeOptions { CudaDevice = device }.ToSessionOptions();
    }

    /// <summary>Throws NotSupportedException, saying how to get one, where the CUDA execution provider is missing.</summary>
    public static void RequireCuda()
    {
        if (CudaAvailable) return;
        throw new NotSupportedException(
            "ONNX Runtime's CUDA execution provider is not in this build: it references Microsoft.ML.OnnxRuntime, the CPU package " +
            $"(providers here: {string.Join(", ", OrtEnv.Instance().GetAvailableProviders())}). On a machine with an NVIDIA GPU, CUDA 13 and " +
            "cuDNN 9, build with `dotnet build -c Release -p:OnnxRuntimeGpu=true` (Microsoft.ML.OnnxRuntime.Gpu.Linux), as scripts/gpu-bench.sh does");
    }

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

    /// <summary>Where ONNX Runtime's profiler writes its JSON trace (a path prefix; null: no profiling). The engine's
    /// <see cref="OnnxRuntimeEngine.EndProfiling"/> ends it and returns the file.</summary>
    public string? ProfilePrefix { get; init; }

    public SessionOptions ToSessionOptions()
    {
        if (CudaDevice is int cuda)   // before anything is allocated: nothing to dispose on these refusals
        {
            if (cuda < 0) throw new ArgumentOutOfRangeException(nameof(CudaDevice), cuda, "a CUDA device index is >= 0");
            RequireCuda();
        }
        var o = new SessionOptions
        {
            GraphOptimizationLevel = Optimization,
            ExecutionMode = Parallel ? ExecutionMode.ORT_PARALLEL : ExecutionMode.ORT_SEQUENTIAL,
        };
        if (IntraOpThreads > 0) o.IntraOpNumThreads = IntraOpThreads;
        if (ProfilePrefix is not null) (o.EnableProfiling, o.ProfileOutputPathPrefix) = (true, ProfilePrefix);
        if (InterOpThreads > 0) o.InterOpNumThreads = InterOpThreads;
        if (CudaDevice is int device)
        {
            try { o.AppendExecutionProvider_CUDA(device); }
            catch (OnnxRuntimeException e)
            {
                o.Dispose();
                throw new NotSupportedException($"ONNX Runtime could not start its CUDA execution provider on device {device} ({e.Message.Trim()}): " +
                    "its CUDA build loads the NVIDIA driver (libcuda.so.1), CUDA 13 (libcudart.so.13, libcublas.so.13, libcublasLt.so.13, " +
                    "libcurand.so.10) and cuDNN 9 (libcudnn.so.9); install them or put their folder on LD_LIBRARY_PATH", e);
            }
        }
        return o;
    }

    /// <summary>
    /// An InferenceSession of a model file or serialized model with these options; a model ONNX Runtime refuses is an
    /// InvalidDataException naming the file (or, for a serialized model, what it is).
    /// </summary>
    public InferenceSession OpenSession(string path) => Open(options => new InferenceSession(path, options), path);

    /// <inheritdoc cref="OpenSession(string)"/>
    public InferenceSession OpenSession(byte[] model, string what) => Open(options => new InferenceSession(model, options), what);

    InferenceSession Open(Func<SessionOptions, InferenceSession> open, string what)
    {
        using var sessionOptions = ToSessionOptions();
        try { return open(sessionOptions); }
        catch (OnnxRuntimeException e) { throw new InvalidDataException($"{what}: ONNX Runtime cannot load it ({e.Message})", e); }
    }
}

/// <summary>
/// Runs an exported model (<see cref="OnnxExporter"/>) with ONNX Runtime (CPU, or CUDA: <see cref="OnnxRuntimeOptions.CudaDevice"/>): float32 images [N, C, H, W]
/// in, logits [N, classes] out. The ParNet metadata of the file (class names, configuration) is in <see cref="Info"/>.
/// One engine may be used from several threads (InferenceSession.Run is thread-safe).
/// </summary>
public sealed class OnnxRuntimeEngine : IDisposable
{
    readonly InferenceSession _session;

    public OnnxRuntimeEngine(string path, OnnxRuntimeOptions? options = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX model not found: {path}", path);
        FileType.RequireRegular(path, "ONNX model");
        Options = options ?? new();
        _session = Options.OpenSession(path);
        (InputName, OutputName, InputShape, OutputShape, Info) = Describe(path);
    }

    /// <summary>A serialized model in memory (as <see cref="OnnxExporter.ExportToBytes"/> returns).</summary>
    public OnnxRuntimeEngine(byte[] model, OnnxRuntimeOptions? options = null)
    {
        Options = options ?? new();
        _session = Options.OpenSession(model, "the model");
        (InputName, OutputName, InputShape, OutputShape, Info) = Describe(null);
    }

    (string, string, long[], long[], DeploymentInfo) Describe(string? source)
    {
        var input = _session.InputMetadata.Single();
        var output = _session.OutputMetadata.First();
        var meta = _session.ModelMetadata.CustomMetadataMap;
        Quantization = meta.TryGetValue(ParNet.Export.Quantization.QdqQuantizer.MetadataKey, out var q) ? q : null;
        return (input.Key, output.Key, input.Value.Dimensions.Select(d => (long)d).ToArray(), output.Value.Dimensions.Select(d => (long)d).ToArray(),
            DeploymentInfo.FromMetadata(meta.ToDictionary(kv => kv.Key, kv => kv.Value), source));
    }

    public OnnxRuntimeOptions Options { get; }
    public string InputName { get; }
    public string OutputName { get; }
    /// <summary>The declared input shape; -1 for the dynamic batch.</summary>
    public long[] InputShape { get; }
    /// <summary>How a graph exported without a dynamic batch axis is said to take its batch, for refusals.</summary>
    public static string ExactBatch(long batch) =>
        $"takes batches of exactly {batch} image{(batch > 1 ? "s" : "")} (exported without a dynamic batch axis)";

    /// <summary>The declared shape of the logits, [N, classes]; -1 for a dynamic dimension.</summary>
    public long[] OutputShape { get; }
    public DeploymentInfo Info { get; }
    /// <summary>How the model was quantized (`parnet export --int8`), or null for a float32 export.</summary>
    public string? Quantization { get; private set; }

    /// <summary>
    /// The side of the square images the graph's input [N, C, H, W] takes: H when H and W are fixed and equal, null when both
    /// are dynamic (any side, as torch.onnx.export's dynamic_axes make them). ArgumentException for any other input: every
    /// pipeline here (predict, serve, eval, bench) feeds square images. (A dynamic side was read as -1: "image size -1:
    /// parnet_s needs a multiple of 32"; a 32 x 64 graph met eval's 64 x 64 batches in ONNX Runtime.)
    /// </summary>
    public int? FixedImageSide() => InputShape switch
    {
        [_, _, > 0 and var h, var w] when h == w => (int)h,
        [_, _, <= 0, <= 0] => null,
        [_, _, var h, var w] => throw new ArgumentException(
            $"its input is {Dimension(h)}x{Dimension(w)} images; images are brought to a square side here (export it square, or with a dynamic height and width)"),
        _ => throw new ArgumentException($"its input is [{string.Join(", ", InputShape.Select(Dimension))}], not a batch of images [N, C, H, W]"),
    };

    static string Dimension(long d) => d > 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?";

    /// <summary>ArgumentException unless the graph's channels and classes (where fixed) are <paramref name="model"/>'s: a
    /// --model given for a graph of another shape ran until ONNX Runtime refused the first image, or named its logits with
    /// another model's classes.</summary>
    public void RequireFits(Models.ModelConfig model)
    {
        if (InputShape is [_, > 0 and var channels, ..] && channels != model.InChannels)
            throw new ArgumentException($"its graph takes {channels}-channel images; {model.Name} takes {model.InChannels}");
        if (OutputShape is [_, > 0 and var classes] && classes != model.NumClasses)
            throw new ArgumentException($"its graph gives {classes} logits; {model.Name} has {model.NumClasses} classes");
    }

    /// <summary>Logits for a float32 batch in NCHW order.</summary>
    public (float[] Data, long[] Shape) Run(float[] input, long[] shape) => _guard.Run(() =>
    {
        CheckShape(shape);
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, [InputName], [value], [OutputName]);
        var result = outputs[0];
        var info = result.GetTensorTypeAndShape();
        return (result.GetTensorDataAsSpan<float>().ToArray(), info.Shape);
    });

    /// <summary>The same through TorchSharp tensors (copied to float32 CPU memory and back).</summary>
    public Tensor Run(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = input.detach().cpu().to(ScalarType.Float32).contiguous();
        var (data, shape) = Run(x.data<float>().ToArray(), x.shape);
        return tensor(data, shape).MoveToOuterDisposeScope();
    }

    /// <summary>Ends the profiling that <see cref="OnnxRuntimeOptions.ProfilePrefix"/> started; the trace file's path.</summary>
    public string EndProfiling() => Options.ProfilePrefix is not null ? _guard.Run(_session.EndProfiling)
        : throw new InvalidOperationException("this engine was opened without OnnxRuntimeOptions.ProfilePrefix: nothing was profiled");

    void CheckShape(long[] shape)
    {
        if (shape.Length != InputShape.Length)
            throw new ArgumentException($"the model takes a {InputShape.Length}-d input [{string.Join(", ", InputShape)}]; got [{string.Join(", ", shape)}]");
        for (int i = 0; i < shape.Length; i++)
            if (InputShape[i] >= 0 && InputShape[i] != shape[i])
                throw new ArgumentException($"the model takes input [{string.Join(", ", InputShape.Select(d => d < 0 ? "N" : d.ToString()))}]" +
                                            $" ({(i == 0 ? "exported without a dynamic batch axis" : i == 1 ? "a fixed channel count" : "exported at a fixed image size")}); " +
                                            $"got [{string.Join(", ", shape)}]");
    }

    readonly DisposeGuard _guard = new("this ONNX Runtime session");

    /// <summary>Frees the session once the runs inside have returned; a run after it is an ObjectDisposedException.</summary>
    public void Dispose() => _guard.Dispose(_session.Dispose);
}
