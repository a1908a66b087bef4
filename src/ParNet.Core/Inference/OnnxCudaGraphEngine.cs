using ParNet.Runtime;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace ParNet.Inference;

/// <summary>
/// Runs an exported model on one CUDA device as a CUDA graph: ONNX Runtime's CUDA execution provider with
/// <c>enable_cuda_graph</c> records the model's kernels once and replays them, instead of launching each kernel from the
/// host. At batch 1 ParNet is launch-bound on a large GPU (an H200 ran fused ParNet-S and -XL alike, 2.8 ms, through
/// <see cref="OnnxRuntimeEngine"/>; results/gpu), which replay removes. The price: one input shape, fixed at construction,
/// and input and output in device buffers at fixed addresses (bound once with an IOBinding; each run copies the image in and
/// the logits out). Needs the CUDA build of ONNX Runtime (<c>-p:OnnxRuntimeGpu=true</c>) and every node on the CUDA provider.
/// Not thread-safe: one run at a time (a lock).
/// </summary>
public sealed class OnnxCudaGraphEngine : IDisposable
{
    readonly InferenceSession _session;
    readonly OrtIoBinding _binding;
    readonly RunOptions _runOptions = new();
    readonly OrtValue _input, _output;
    readonly IntPtr _inputBuffer, _outputBuffer;
    readonly long _inputCount, _outputCount;
    readonly object _gate = new();

    /// <param name="model">a serialized model (<see cref="Export.OnnxExporter.ExportToBytes"/>)</param>
    /// <param name="inputShape">the one input shape it will run, [N, C, H, W]</param>
    /// <param name="device">the CUDA device</param>
    public OnnxCudaGraphEngine(byte[] model, long[] inputShape, int device = 0)
    {
        if (device < 0) throw new ArgumentOutOfRangeException(nameof(device), device, "a CUDA device index is >= 0");
        if (inputShape.Length != 4 || inputShape.Any(d => d < 1)) throw new ArgumentException($"an input shape is [N, C, H, W] of positive sizes; got [{string.Join(", ", inputShape)}]");
        OnnxRuntimeOptions.RequireCuda();
        InputShape = (long[])inputShape.Clone();
        Device = device;
        var owned = new List<IDisposable>();
        try
        {
            using var options = new OnnxRuntimeOptions().ToSessionOptions();
            using (var cuda = new OrtCUDAProviderOptions())
            {
                cuda.UpdateOptions(new Dictionary<string, string> { ["device_id"] = device.ToString(), ["enable_cuda_graph"] = "1" });
                options.AppendExecutionProvider_CUDA(cuda);
            }
            _session = new InferenceSession(model, options);
            owned.Add(_session);
            string inputName = _session.InputMetadata.Keys.Single(), outputName = _session.OutputMetadata.Keys.First();
            var outputDims = _session.OutputMetadata[outputName].Dimensions;
            OutputShape = outputDims.Select((d, i) => d >= 0 ? d : i == 0 ? inputShape[0] : throw new InvalidDataException(
                $"the model's output '{outputName}' has a dynamic dimension {i} beyond the batch: a CUDA graph needs fixed shapes")).ToArray();
            (_inputCount, _outputCount) = (inputShape.Aggregate(1L, (a, d) => a * d), OutputShape.Aggregate(1L, (a, d) => a * d));

            Cuda.Check(Cuda.SetDevice(device), "cudaSetDevice");
            _inputBuffer = Cuda.Allocate(_inputCount * sizeof(float));
            _outputBuffer = Cuda.Allocate(_outputCount * sizeof(float));
            using var memory = new OrtMemoryInfo("Cuda", OrtAllocatorType.DeviceAllocator, device, OrtMemType.Default);
            _input = OrtValue.CreateTensorValueWithData(memory, TensorElementType.Float, inputShape, _inputBuffer, _inputCount * sizeof(float));
            owned.Add(_input);
            _output = OrtValue.CreateTensorValueWithData(memory, TensorElementType.Float, OutputShape, _outputBuffer, _outputCount * sizeof(float));
            owned.Add(_output);
            _binding = _session.CreateIoBinding();
            _binding.BindInput(inputName, _input);
            _binding.BindOutput(outputName, _output);
        }
        catch
        {
            foreach (var o in owned) o.Dispose();
            _runOptions.Dispose();
            Cuda.Free(_inputBuffer);
            Cuda.Free(_outputBuffer);
            throw;
        }
    }

    public long[] InputShape { get; }
    public long[] OutputShape { get; }
    public int Device { get; }

    /// <summary>Logits for a float32 batch of exactly <see cref="InputShape"/>, in NCHW order. The first run records the graph.</summary>
    public (float[] Data, long[] Shape) Run(float[] input, long[] shape) => _guard.Run(() =>
    {
        if (!shape.SequenceEqual(InputShape))
            throw new ArgumentException($"this CUDA graph runs input [{string.Join(", ", InputShape)}] only; got [{string.Join(", ", shape)}]");
        if (input.Length != _inputCount) throw new ArgumentException($"the input holds {input.Length} values; its shape says {_inputCount}");
        var logits = new float[_outputCount];
        lock (_gate)
        {
            Cuda.Check(Cuda.SetDevice(Device), "cudaSetDevice");
            Cuda.CopyToDevice(_inputBuffer, input);
            // the copy from pageable memory may still be in flight when cudaMemcpy returns; ONNX Runtime's own stream does not wait for it
            Cuda.Check(Cuda.DeviceSynchronize(), "cudaDeviceSynchronize");
            _session.RunWithBinding(_runOptions, _binding);   // returns after ONNX Runtime synchronized its stream
            Cuda.CopyToHost(logits, _outputBuffer);
        }
        return (logits, (long[])OutputShape.Clone());
    });

    readonly DisposeGuard _guard = new("this CUDA graph's ONNX Runtime session");

    public void Dispose() => _guard.Dispose(() =>
    {
        _binding.Dispose();
        _input.Dispose();
        _output.Dispose();
        _session.Dispose();
        _runOptions.Dispose();
        Cuda.Free(_inputBuffer);
        Cuda.Free(_outputBuffer);
    });

    /// <summary>The few CUDA runtime calls the engine needs, from the libcudart.so.13 that ONNX Runtime's CUDA provider loads.</summary>
    static class Cuda
    {
        const string Library = "libcudart.so.13";
        [DllImport(Library, EntryPoint = "cudaSetDevice")] public static extern int SetDevice(int device);
        [DllImport(Library, EntryPoint = "cudaMalloc")] static extern int Malloc(out IntPtr pointer, nuint bytes);
        [DllImport(Library, EntryPoint = "cudaFree")] static extern int CudaFree(IntPtr pointer);
        [DllImport(Library, EntryPoint = "cudaMemcpy")] static extern unsafe int Memcpy(void* destination, void* source, nuint bytes, int kind);
        [DllImport(Library, EntryPoint = "cudaDeviceSynchronize")] public static extern int DeviceSynchronize();
        [DllImport(Library, EntryPoint = "cudaGetErrorString")] static extern IntPtr ErrorString(int error);
        const int HostToDevice = 1, DeviceToHost = 2;

        public static void Check(int error, string call)
        {
            if (error != 0) throw new InvalidOperationException($"{call} failed: CUDA error {error} ({Marshal.PtrToStringAnsi(ErrorString(error))})");
        }

        public static IntPtr Allocate(long bytes)
        {
            Check(Malloc(out var pointer, (nuint)bytes), $"cudaMalloc of {bytes} bytes");
            return pointer;
        }

        public static void Free(IntPtr pointer)
        {
            if (pointer != IntPtr.Zero) CudaFree(pointer);
        }

        public static unsafe void CopyToDevice(IntPtr device, float[] host)
        {
            fixed (float* source = host) Check(Memcpy((void*)device, source, (nuint)(host.Length * sizeof(float)), HostToDevice), "cudaMemcpy to the device");
        }

        public static unsafe void CopyToHost(float[] host, IntPtr device)
        {
            fixed (float* destination = host) Check(Memcpy(destination, (void*)device, (nuint)(host.Length * sizeof(float)), DeviceToHost), "cudaMemcpy to the host");
        }
    }
}
