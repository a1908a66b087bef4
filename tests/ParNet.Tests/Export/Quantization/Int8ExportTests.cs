using Microsoft.ML.OnnxRuntime;
using Google.Protobuf;
using Onnx;
using TorchSharp.PyBridge;
using ParNet.Export;
using ParNet.Export.Quantization;
using ParNet.Fusion;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Tests.Models;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Tests.Export.Quantization;

/// <summary>The int8 (QDQ) export of the fused tiny official model, run by ONNX Runtime against its float32 export.</summary>
public class Int8ExportTests
{
    static Tensor FixtureInput() => Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"))["input"];

    /// <summary>The fixture's two 64x64 images, one per batch: the calibration set of these tests.</summary>
    static List<(float[] Data, long[] Shape)> Calibration(Tensor input) =>
        Enumerable.Range(0, (int)input.shape[0]).Select(i =>
        {
            var image = input.narrow(0, i, 1).contiguous();
            return (image.data<float>().ToArray(), image.shape);
        }).ToList();

    static ImageClassifier FusedTiny()
    {
        using var trained = OfficialParityTests.TrainedTinyModel();
        var fused = ParNetFuser.Fuse(trained);
        fused.eval();
        return fused;
    }

    static int Count(ModelProto model, string opType) => model.Graph.Node.Count(n => n.OpType == opType);

    /// <summary>The graph ONNX Runtime runs after optimizing <paramref name="model"/> at <paramref name="level"/> (its optimized model file).</summary>
    static ModelProto Optimized(ModelProto model, GraphOptimizationLevel level)
    {
        string path = Path.Combine(Path.GetTempPath(), $"parnet-int8-optimized-{Guid.NewGuid():N}.onnx");
        try
        {
            using (var options = new SessionOptions { GraphOptimizationLevel = level, OptimizedModelFilePath = path, IntraOpNumThreads = 1 })
            using (new InferenceSession(model.ToByteArray(), options)) { }
            return ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Int8_logits_stay_close_to_float32_logits_and_agree_on_the_top_classes()
    {
        using var fused = FusedTiny();
        var input = FixtureInput();
        using var fp32 = new OnnxRuntimeEngine(OnnxExporter.ExportToBytes(fused, 64));
        using var int8 = new OnnxRuntimeEngine(Int8Exporter.ExportToBytes(fused, 64, Calibration(input), new Int8Options { CalibrationImages = 2 }));
        var expected = fp32.Run(input);
        var actual = int8.Run(input);
        ExportTestSupport.AssertMeaningful(expected);
        // 8-bit weights and activations through 22 convs: measured 0.4% of the logits' norm (bound 0.03). A wrong scale, axis,
        // zero point or bias scale moves the logits by their own size (relative error ~1).
        double err = ExportTestSupport.RelativeL2(actual, expected);
        Assert.True(err < 0.03, $"relative L2 error {err:F4}");
        Assert.True(err > 1e-5, $"relative L2 error {err:E2}: no quantization happened?");
        Assert.Equal(expected.argmax(1).data<long>().ToArray(), actual.argmax(1).data<long>().ToArray());
    }

    [Fact]
    public void Weights_become_int8_per_channel_and_gates_and_head_stay_float_by_default()
    {
        using var fused = FusedTiny();
        var fp32 = OnnxExporter.BuildModel(fused, 64, 64);
        var int8 = Int8Exporter.Build(fused, 64, Calibration(FixtureInput()), new Int8Options { CalibrationImages = 2 });
        int convs = Count(fp32, "Conv"), gates = fp32.Graph.Node.Count(n => n.OpType == "Conv" && QdqQuantizer.IsGate(n));
        Assert.True(gates > 0 && convs > gates, $"{convs} convs, {gates} gates");

        var dequantizers = int8.Graph.Node.Where(n => n.OpType == "DequantizeLinear").ToList();
        var weightInputs = dequantizers.Select(n => n.Input[0]).Where(n => n.EndsWith(".weight_quantized", StringComparison.Ordinal)).ToList();
        Assert.Equal(convs - gates, weightInputs.Count);
        var initializers = int8.Graph.Initializer.ToDictionary(t => t.Name);
        foreach (var name in weightInputs)
        {
            Assert.Equal((int)TensorProto.Types.DataType.Int8, initializers[name].DataType);
            Assert.Equal(initializers[name].Dims[0], initializers[name.Replace("_quantized", "_scale")].Dims[0]);   // one scale per output channel
            Assert.False(initializers.ContainsKey(name.Replace("_quantized", "")), "the float32 weight is still in the file");
        }
        // the gates' convs and the head read float32 weights
        Assert.All(int8.Graph.Node.Where(n => n.OpType == "Conv" && QdqQuantizer.IsGate(n)),
            n => Assert.Equal((int)TensorProto.Types.DataType.Float, initializers[n.Input[1]].DataType));
        Assert.Equal((int)TensorProto.Types.DataType.Float, initializers[int8.Graph.Node.Single(n => n.OpType == "Gemm").Input[1]].DataType);
        Assert.Contains(int8.MetadataProps, p => p.Key == QdqQuantizer.MetadataKey);

        var all = Int8Exporter.Build(fused, 64, Calibration(FixtureInput()), new Int8Options { QuantizeGates = true, QuantizeHead = true });
        Assert.Equal(convs + 1, all.Graph.Node.Count(n => n.OpType == "DequantizeLinear" && n.Input[0].EndsWith(".weight_quantized", StringComparison.Ordinal)));
    }

    [Fact]
    public void Onnx_runtime_fuses_every_quantized_conv_into_an_int8_kernel()
    {
        using var fused = FusedTiny();
        var int8 = Int8Exporter.Build(fused, 64, Calibration(FixtureInput()), new Int8Options { CalibrationImages = 2 });
        int quantized = int8.Graph.Node.Count(n => n.OpType == "Conv" && n.Input[1].EndsWith("_dequantized", StringComparison.Ordinal));
        var ops = Optimized(int8, GraphOptimizationLevel.ORT_ENABLE_EXTENDED).Graph.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());
        string seen = string.Join(", ", ops.Select(kv => $"{kv.Key} {kv.Value}"));
        Assert.True(ops.GetValueOrDefault("QLinearConv") == quantized, $"{quantized} quantized convs; after optimization: {seen}");
        // what is left as a float Conv is the gates, nothing else
        Assert.Equal(int8.Graph.Node.Count(n => n.OpType == "Conv" && QdqQuantizer.IsGate(n)), ops.GetValueOrDefault("Conv") + ops.GetValueOrDefault("FusedConv"));
    }

    [Fact]
    public void Onnx_runtime_keeps_the_streams_channels_last_from_conv_to_conv_and_pools_the_gates_in_int8()
    {
        using var fused = FusedTiny();
        var int8 = Int8Exporter.Build(fused, 64, Calibration(FixtureInput()), new Int8Options { CalibrationImages = 2 });
        // every gate pools a block input that its conv quantizes: one uint8 pooling per gate conv
        int gates = int8.Graph.Node.Count(n => n.OpType == "Conv" && QdqQuantizer.IsGate(n));
        Assert.Equal(gates, int8.Graph.Node.Count(n => n.OpType == "GlobalAveragePool" && n.Output[0].EndsWith("_float", StringComparison.Ordinal)));
        var after = Optimized(int8, GraphOptimizationLevel.ORT_ENABLE_ALL);
        var producers = after.Graph.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n);
        string? From(NodeProto n) => producers.GetValueOrDefault(n.Input[0])?.OpType;
        Assert.Equal(gates, after.Graph.Node.Count(n => n.OpType == "QLinearGlobalAveragePool"));
        // within a stream, a conv reads the uint8 NHWC map its QuantizeLinear wrote: no Transpose between (before the
        // SSE folding, each one read a Transpose and each block transposed its float maps twice more)
        var streamConvs = after.Graph.Node.Where(n => n.OpType == "QLinearConv" && n.Name.StartsWith("streams.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(streamConvs);
        Assert.All(streamConvs, n => Assert.Equal("QuantizeLinear", From(n)));
        // and no full-size float map is transposed: what a Transpose still reads is not a dequantized map or an activation
        Assert.DoesNotContain(after.Graph.Node, n => n.OpType == "Transpose" && From(n) is "DequantizeLinear" or "Add");
    }

    [Fact]
    public void A_profiled_engine_traces_one_int8_kernel_per_quantized_conv_per_run_and_an_unprofiled_one_refuses_to_end_a_profile()
    {
        using var fused = FusedTiny();
        var int8 = Int8Exporter.Build(fused, 64, Calibration(FixtureInput()), new Int8Options { CalibrationImages = 2 });
        int quantized = int8.Graph.Node.Count(n => n.OpType == "Conv" && n.Input[1].EndsWith("_dequantized", StringComparison.Ordinal));
        var (image, shape) = Calibration(FixtureInput())[0];
        string? trace = null;
        try
        {
            using (var engine = new OnnxRuntimeEngine(int8.ToByteArray(), new OnnxRuntimeOptions { ProfilePrefix = Path.Combine(Path.GetTempPath(), $"parnet-profile-{Guid.NewGuid():N}") }))
            {
                for (int i = 0; i < 3; i++) engine.Run(image, shape);
                trace = engine.EndProfiling();
            }
            int kernels = System.Text.Json.JsonDocument.Parse(File.ReadAllText(trace)).RootElement.EnumerateArray()
                .Count(e => e.GetProperty("cat").GetString() == "Node" && e.GetProperty("name").GetString()!.EndsWith("_kernel_time", StringComparison.Ordinal)
                            && e.GetProperty("args").GetProperty("op_name").GetString() == "QLinearConv");
            Assert.Equal(3 * quantized, kernels);
        }
        finally { if (trace is not null) File.Delete(trace); }

        using var plain = new OnnxRuntimeEngine(int8.ToByteArray());
        Assert.Contains("without OnnxRuntimeOptions.ProfilePrefix", Assert.Throws<InvalidOperationException>(() => plain.EndProfiling()).Message);
    }

    [Fact]
    public void Calibration_is_deterministic()
    {
        using var fused = FusedTiny();
        var fp32 = OnnxExporter.BuildModel(fused, 64, 64);
        var options = new Int8Options();
        var values = QdqQuantizer.ValuesToCalibrate(fp32.Graph, options);
        var first = ActivationCalibrator.Calibrate(fp32, values, Calibration(FixtureInput()));
        var second = ActivationCalibrator.Calibrate(fp32, values, Calibration(FixtureInput()));
        Assert.Equal(values.Count, first.Count);
        Assert.All(first, kv => Assert.True(kv.Value.Max > kv.Value.Min, $"{kv.Key}: empty range [{kv.Value.Min}, {kv.Value.Max}]"));
        Assert.Equal(first, second);
        Assert.Equal(QdqQuantizer.Quantize(fp32, first, options).ToByteArray(), QdqQuantizer.Quantize(fp32, second, options).ToByteArray());
    }

    [Fact]
    public void A_training_form_model_is_refused()
    {
        using var trained = OfficialParityTests.TrainedTinyModel();
        var e = Assert.Throws<ArgumentException>(() => Int8Exporter.Build(trained, 64, Calibration(FixtureInput()), new Int8Options()));
        Assert.Equal("parnet_official_tiny_silu: int8 export quantizes the fused network; fuse the model first", e.Message);
    }
    /// <summary>`export --int8 --out` to a folder that takes no files calibrated first (minutes on ParNet-S) and failed
    /// after (note 41): the output is checked before a calibration image is read.</summary>
    [Fact]
    public void An_output_that_cannot_be_written_is_refused_before_calibration_reads_an_image()
    {
        Assert.True(Directory.Exists("/proc"), "this test needs Linux's /proc");
        using var fused = FusedTiny();
        int read = 0;
        IEnumerable<(float[] Data, long[] Shape)> Counted()
        {
            foreach (var image in Calibration(FixtureInput())) { read++; yield return image; }
        }
        var e = Assert.Throws<IOException>(() => Int8Exporter.Export(fused, "/proc/parnet-tiny.int8.onnx", 64, Counted(), new Int8Options { CalibrationImages = 2 }));
        Assert.Equal("/proc/parnet-tiny.int8.onnx: /proc takes no new files (a system folder such as /proc or /sys); write elsewhere", e.Message);
        Assert.Equal(0, read);
    }
}
