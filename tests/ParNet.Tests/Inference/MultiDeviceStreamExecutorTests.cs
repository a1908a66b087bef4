using TorchSharp;
using ParNet.Fusion;
using ParNet.Inference;
using ParNet.Tests.Models;
using ParNet.Weights;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ParNet.Tests.Inference;

/// <summary>
/// One device per stream. Only the CPU device exists in this build (TorchSharp-cpu), so these run every stream on
/// the CPU device through the multi-device code path, and check the refusals of devices this build cannot reach.
/// </summary>
public class MultiDeviceStreamExecutorTests
{
    [Fact]
    public void Streams_on_their_devices_give_the_authors_fused_logits()
    {
        using var trained = OfficialParityTests.TrainedTinyModel();
        using var fused = ParNetFuser.Fuse(trained);
        var executor = new MultiDeviceStreamExecutor(fused, MultiDeviceStreamExecutor.ParseDevices("cpu, cpu, cpu"));
        Assert.Equal([DeviceType.CPU, DeviceType.CPU, DeviceType.CPU], executor.StreamDevices.Select(d => d.type));
        Assert.All(fused.parameters(), p => Assert.Equal(DeviceType.CPU, p.device_type));
        var io = Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"));
        using var noGrad = no_grad();
        for (int run = 0; run < 2; run++)
        {
            using var logits = executor.Forward(io["input"]);
            double error = OfficialParityTests.RelativeL2(logits, io["logits_fused"]);
            Assert.True(error <= 1e-5, $"run {run}: relative L2 {error:E3}");
        }
    }

    [Fact]
    public void Devices_this_build_cannot_reach_are_refused_with_the_reason()
    {
        using var model = OfficialParityTests.TrainedTinyModel();
        Assert.False(cuda.is_available());   // this repository builds with TorchSharp-cpu
        var e = Assert.Throws<NotSupportedException>(() => new MultiDeviceStreamExecutor(model, MultiDeviceStreamExecutor.ParseDevices("cuda:0,cuda:1,cuda:2")));
        Assert.Contains("TorchSharp-cuda-linux", e.Message);
        var count = Assert.Throws<ArgumentException>(() => new MultiDeviceStreamExecutor(model, [CPU, CPU]));
        Assert.Contains("one device per stream", count.Message);
        Assert.Throws<ArgumentException>(() => MultiDeviceStreamExecutor.ParseDevices("gpu0,cpu,cpu"));
    }
}
