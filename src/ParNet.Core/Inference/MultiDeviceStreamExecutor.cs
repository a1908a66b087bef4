using TorchSharp;
using ParNet.Models;
using static TorchSharp.torch;

namespace ParNet.Inference;

/// <summary>
/// The paper's Table 3 setup: one device per stream. Stream i's blocks live on device i; the inits, the fusion
/// blocks and the head live on the main device (default: stream 0's). A forward runs inits.0, inits.1, ... on the
/// main device; as each finishes, its output is copied to stream i's device and the stream runs there on its own
/// worker thread; the outputs are copied back and fused on the main device. Outputs equal the sequential forward.
///
/// The constructor MOVES the model's modules to those devices (like the authors' SimpNetMultiGPU, which moved
/// copies): give it a model that is only used through this executor.
///
/// Status: needs a CUDA build of TorchSharp (package TorchSharp-cuda-linux in place of TorchSharp-cpu) to place
/// streams on GPUs. This repository builds with TorchSharp-cpu, the only TorchSharp served on our build machines, so
/// the GPU path has not been run here; the tests run it with every stream on the CPU device (the same code path
/// apart from where the tensors live). Asking for a CUDA device without CUDA throws <see cref="NotSupportedException"/>.
/// </summary>
public sealed class MultiDeviceStreamExecutor
{
    readonly Device[] _streamDevices;

    public MultiDeviceStreamExecutor(ParNetModel model, IReadOnlyList<Device> streamDevices, Device? mainDevice = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (streamDevices.Count != model.Streams)
            throw new ArgumentException($"{model.Config.Name} has {model.Streams} streams; got {streamDevices.Count} device(s): one device per stream");
        Main = mainDevice ?? streamDevices[0];
        foreach (var device in streamDevices.Append(Main)) CheckAvailable(device);
        Model = model;
        _streamDevices = streamDevices.ToArray();
        model.to(Main);
        for (int i = 0; i < model.Streams; i++) model.MoveStream(i, _streamDevices[i]);
    }

    public ParNetModel Model { get; }
    public Device Main { get; }
    public IReadOnlyList<Device> StreamDevices => _streamDevices;

    /// <summary>"cuda:0,cuda:1,cuda:2" or "cpu,cpu,cpu": one device per stream.</summary>
    public static Device[] ParseDevices(string spec) =>
        spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(d =>
        {
            try { return new Device(d); }
            catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException)
            {
                throw new ArgumentException($"'{d}' is not a device (expected cpu or cuda:N)", e);
            }
        }).ToArray();

    /// <summary>Throws when this process cannot use <paramref name="device"/> (NotSupportedException says why).</summary>
    public static void CheckAvailable(Device device)
    {
        if (device.type == DeviceType.CPU) return;
        if (device.type != DeviceType.CUDA)
            throw new NotSupportedException($"device {device}: only cpu and cuda:N devices are supported");
        if (!cuda.is_available())
            throw new NotSupportedException($"device {device}: CUDA is not available to this process. This build references TorchSharp-cpu " +
                                            "(the only TorchSharp served on our build machines); reference TorchSharp-cuda-linux instead, on a machine with GPUs");
        if (device.index >= cuda.device_count())
            throw new ArgumentException($"device {device}: this machine has {cuda.device_count()} CUDA device(s)");
    }

    /// <summary>Logits [N, classes] on the main device, as <c>Model.call(x)</c>.</summary>
    public Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Model.CheckInput(x);
        Model.EnsureCorrectConvolutions();
        var outputs = StreamWorkers.Run(Model, x.to(Main), scope,
            (stream, input) => Model.RunStream(stream, input.to(_streamDevices[stream])).to(Main));
        return Model.forward_head(Model.MergeStreams(outputs)).MoveToOuterDisposeScope();
    }
}
