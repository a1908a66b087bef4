using ParNet.Export;
using ParNet.Fusion;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Tests.Cli;
using ParNet.Tests.Export;
using ParNet.Tests.Models;
using static TorchSharp.torch;

namespace ParNet.Tests.Inference;

/// <summary>
/// The paper's Table 3 in ONNX Runtime: an export cut at its streams (OnnxStreamPartition), each stream in its own session,
/// against the whole graph in one session and the authors' fixture logits. The CUDA engine is chosen at run time: on this
/// CPU build it must be refused with a message that says how to get it, never fall back to the CPU silently.
/// </summary>
public class OnnxStreamParallelEngineTests
{
    static (float[] Data, long[] Shape) Input(ModelConfig config, int batch, int size)
    {
        var rng = new Random(7);
        long[] shape = [batch, config.InChannels, size, size];
        var data = new float[batch * config.InChannels * size * size];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return (data, shape);
    }

    static void AssertSameAsOneSession(ParNetModel model, int size)
    {
        var (input, shape) = Input(model.Config, 2, size);
        using var whole = new OnnxRuntimeEngine(OnnxExporter.ExportToBytes(model, size));
        using var parallel = new OnnxStreamParallelEngine(OnnxExporter.BuildStreamPartition(model, size, size),
            new OnnxRuntimeOptions { IntraOpThreads = 1 }, _ => new OnnxRuntimeOptions { IntraOpThreads = 1 });
        Assert.False(parallel.KeepsValuesOnGpu);   // every part on the CPU: values between them in host memory
        var expected = whole.Run(input, shape);
        var actual = parallel.Run(input, shape);
        Assert.Equal(expected.Shape, actual.Shape);
        ExportTestSupport.AssertMeaningful(tensor(expected.Data));
        double error = OfficialParityTests.RelativeL2(tensor(actual.Data), tensor(expected.Data));
        Assert.True(error < 1e-5, $"relative L2 {error:E2}");
    }

    [Fact]
    public void Stream_sessions_reproduce_the_authors_fused_logits()
    {
        using var trained = OfficialParityTests.TrainedTinyModel();
        using var fused = ParNetFuser.Fuse(trained);
        var io = TorchSharp.PyBridge.Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"));
        var x = io["input"].contiguous();
        using var engine = new OnnxStreamParallelEngine(OnnxExporter.BuildStreamPartition(fused, (int)x.shape[2], (int)x.shape[3]),
            new OnnxRuntimeOptions(), _ => new OnnxRuntimeOptions { IntraOpThreads = 1 });
        var (data, shape) = engine.Run(x.data<float>().ToArray(), x.shape);
        var logits = tensor(data, shape);
        ExportTestSupport.AssertMeaningful(io["logits"]);
        double error = ExportTestSupport.RelativeL2(logits, io["logits"]);
        Assert.True(error < 1e-4, $"relative L2 against the authors' logits {error:E2}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Stream_sessions_equal_one_session_for_any_stream_count(int streams)
    {
        var config = ParNet.Studies.StudyCatalog.ParNet($"s{streams}", 16, streams) with { InChannels = 3 };
        manual_seed(3);
        using var model = new ParNetModel(config);
        model.eval();
        AssertSameAsOneSession(model, 32);
    }

    [Fact]
    public void A_stream_without_blocks_is_passed_through_to_the_merge()
    {
        // depth 9 at three streams: stream 0 has no blocks (an Identity), so its entry value goes straight to the fusion blocks
        var config = ParNet.Studies.StudyCatalog.ParNet("depth9", 16, blocksShift: -3);
        Assert.Equal(0, config.BlocksPerStream[0]);
        manual_seed(4);
        using var model = new ParNetModel(config);
        model.eval();
        var partition = OnnxExporter.BuildStreamPartition(model, 32, 32);
        Assert.Null(partition.Streams[0]);
        Assert.All(partition.Streams.Skip(1), Assert.NotNull);
        AssertSameAsOneSession(model, 32);
    }

    [Fact]
    public void Every_node_lands_in_exactly_one_part_and_each_stream_has_one_input_and_one_output()
    {
        using var trained = OfficialParityTests.TrainedTinyModel();
        var whole = OnnxExporter.BuildModel(trained, 64, 64);
        var partition = OnnxExporter.BuildStreamPartition(trained, 64, 64);
        var parts = new[] { partition.Entry, partition.Merge }.Concat(partition.Streams.OfType<Onnx.ModelProto>()).ToList();
        Assert.Equal(whole.Graph.Node.Select(n => n.Name).Order(), parts.SelectMany(p => p.Graph.Node).Select(n => n.Name).Order());
        Assert.Equal(3, partition.Streams.Count);
        for (int i = 0; i < 3; i++)
        {
            var stream = partition.Streams[i]!;
            Assert.Single(stream.Graph.Input);
            Assert.Single(stream.Graph.Output);
            // the nodes that carry a module's name are that stream's modules (the unnamed ones are its adds, gates, activations)
            var named = stream.Graph.Node.Where(n => n.Name.Contains('/')).Select(n => n.Name).ToList();
            Assert.NotEmpty(named);
            Assert.All(named, name => Assert.StartsWith($"streams.{i}.", name));
        }
        Assert.Equal("input", partition.Entry.Graph.Input.Single().Name);
        Assert.Equal(3, partition.Entry.Graph.Output.Count);   // one entry value per stream
        Assert.Equal("logits", partition.Merge.Graph.Output.Single().Name);
        // every initializer travels with the parts that use it: a module's weights with exactly one part, the small shared
        // constants (shapes, scales; named const.*) with each part that reads them
        var carried = parts.SelectMany(p => p.Graph.Initializer).Select(t => t.Name).ToList();
        Assert.Equal(whole.Graph.Initializer.Select(t => t.Name).Order(), carried.Distinct().Order());
        Assert.Equal(carried.Where(n => !n.StartsWith("const.")).Order(), carried.Where(n => !n.StartsWith("const.")).Distinct().Order());
    }

    [Fact]
    public void A_graph_without_the_streams_stages_is_refused()
    {
        using var trained = OfficialParityTests.TrainedTinyModel();
        var whole = OnnxExporter.BuildModel(trained, 64, 64);
        var e = Assert.Throws<InvalidDataException>(() => OnnxStreamPartition.Split(whole, [("nothing", "logits")]));
        Assert.Contains("not its input", e.Message);
    }

    const string GpuBuild = "this is a -p:OnnxRuntimeGpu=true build (ONNX Runtime has the CUDA provider): there is no CPU build's refusal " +
                            "to check; scripts/gpu-device.sh and scripts/gpu-bench.sh check the CUDA engines on a GPU";

    [SkippableFact]
    public void The_CUDA_engine_is_refused_on_the_CPU_build_with_how_to_get_it()
    {
        Skip.If(OnnxRuntimeOptions.CudaAvailable, GpuBuild);
        var e = Assert.Throws<NotSupportedException>(() => new OnnxRuntimeOptions { CudaDevice = 0 }.ToSessionOptions());
        Assert.Contains("-p:OnnxRuntimeGpu=true", e.Message);
        Assert.Contains("CPUExecutionProvider", e.Message);   // what this build does have
    }

    [SkippableFact]
    public void The_CUDA_graph_engine_checks_its_shape_and_is_refused_on_the_CPU_build()
    {
        byte[] model = [1, 2, 3];   // never read: the arguments and the provider are checked first
        var shape = Assert.Throws<ArgumentException>(() => new OnnxCudaGraphEngine(model, [1, 3, 224]));
        Assert.Contains("[N, C, H, W]", shape.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new OnnxCudaGraphEngine(model, [1, 3, 224, 224], device: -1));
        Skip.If(OnnxRuntimeOptions.CudaAvailable, GpuBuild);   // the shape checks above ran; the refusal below is the CPU build's
        var e = Assert.Throws<NotSupportedException>(() => new OnnxCudaGraphEngine(model, [1, 3, 224, 224]));
        Assert.Contains("-p:OnnxRuntimeGpu=true", e.Message);
    }

    [SkippableFact]
    public void Predict_and_bench_refuse_the_CUDA_engine_in_one_line_on_the_CPU_build()
    {
        Skip.If(OnnxRuntimeOptions.CudaAvailable, GpuBuild);
        CliRunner.AssertUserError(CliRunner.Run("predict", "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors"),
            "--engine", "onnxruntime-cuda", "x.png"), "-p:OnnxRuntimeGpu=true");
        CliRunner.AssertUserError(CliRunner.Run("bench", "--model", "parnet_cifar_small", "--only", "onnx-cuda"), "-p:OnnxRuntimeGpu=true");
        CliRunner.AssertUserError(CliRunner.Run("bench", "--model", "parnet_cifar_small", "--only", "onnx-cuda-graph"), "-p:OnnxRuntimeGpu=true");
        CliRunner.AssertUserError(CliRunner.Run("bench", "--model", "parnet_cifar_small", "--only", "onnx-streams", "--cuda-devices", "0,x"), "--cuda-devices 0,x");
    }
}
