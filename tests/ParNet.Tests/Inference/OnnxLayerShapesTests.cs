using ParNet.Export;
using ParNet.Export.Quantization;
using ParNet.Fusion;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Models.Tracing;
using ParNet.Tests.Export;

namespace ParNet.Tests.Inference;

/// <summary>The layer shapes ONNX Runtime infers for an exported file (what `serve` checks a batch's memory with when it
/// serves an .onnx file, without libtorch) against the torch model's own trace of the same network.</summary>
public class OnnxLayerShapesTests
{
    static string Describe(long[]? input, long[] output) => $"{(input is null ? "image" : string.Join('x', input))} -> {string.Join('x', output)}";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Every_conv_and_linear_layer_of_an_export_has_the_shapes_of_the_traced_model(bool int8)
    {
        using var folder = new ExportTempFolder();
        using var trained = ModelRegistry.Create("parnet_cifar_small");
        using var fused = ParNetFuser.Fuse(trained);
        fused.eval();
        string path = folder.File(int8 ? "int8.onnx" : "fp32.onnx");
        if (int8) Int8Exporter.Export(fused, path, 32, Int8Exporter.NoiseImages(fused.Config, 32, 2), new Int8Options { CalibrationImages = 2 });
        else OnnxExporter.Export(fused, path, 32);

        var (image, layers, unknown) = OnnxLayerShapes.Infer(path);
        Assert.Equal(0, unknown);
        var graph = fused.Trace(32, 32);
        // an int8 graph's first conv reads the image dequantized: a value of its own, of the image's shape
        var traced = graph.Nodes.Where(n => n.IsLayer)
            .Select(n => Describe(n.Inputs[0].Kind == LayerKind.Input && !int8 ? null : n.Inputs[0].Shape, n.Shape)).Order().ToList();

        Assert.Equal([3, 32, 32], image);
        Assert.True(traced.Count > 20, $"only {traced.Count} layers traced");
        Assert.Equal(traced, layers.Select(l => Describe(l.Input, l.Output)).Order().ToList());
        if (!int8) Assert.Equal(ForwardMemory.OfLargestLayer(graph).BytesPerImage, ForwardMemory.OfLargestLayer(image, layers).BytesPerImage);
    }

    /// <summary>
    /// A conv after a reshape whose shape the graph computes (Shape, Gather, Concat: how torch.onnx.export writes the
    /// authors' channel shuffle). ONNX Runtime's inference alone gave that conv no shape, and `predict` of the authors'
    /// ParNet-S exported by torch stopped with "ONNX Runtime infers no whole shape for ...AveragePool_output_0"; with the
    /// shape chain folded, every layer has its shapes. A shape computed from a weight's values (<paramref name="fromWeights"/>,
    /// which the inference reads without) stays unknown: its layers are left out of the lower bound, which says so,
    /// instead of refusing the graph.
    /// </summary>
    [Theory, InlineData(false), InlineData(true)]
    public void A_layer_after_a_computed_reshape_has_its_shapes_or_is_left_out_of_the_bound_saying_so(bool fromWeights)
    {
        using var folder = new ExportTempFolder();
        string path = folder.File("computed-reshape.onnx");
        float[] Zeros(int n) => new float[n];
        var target = fromWeights
            ? new[] { OnnxMessages.Node("Cast", "cast", ["target.f"], ["target"], OnnxMessages.Attribute("to", (long)Onnx.TensorProto.Types.DataType.Int64)) }
            : [
                OnnxMessages.Node("Shape", "shape", ["c1"], ["s"]),
                OnnxMessages.Node("Gather", "gather", ["s", "first"], ["n"], OnnxMessages.Attribute("axis", 0L)),
                OnnxMessages.Node("Concat", "concat", ["n", "rest"], ["target"], OnnxMessages.Attribute("axis", 0L)),
            ];
        var nodes = new[] { OnnxMessages.Node("Conv", "conv1", ["x", "w1"], ["c1"], OnnxMessages.Attribute("kernel_shape", [3L, 3]), OnnxMessages.Attribute("pads", [1L, 1, 1, 1])) }
            .Concat(target).Concat(
            [
                OnnxMessages.Node("Reshape", "reshape", ["c1", "target"], ["r"]),   // [1, 8, 16, 16] -> [1, 4, 32, 16]
                OnnxMessages.Node("Conv", "conv2", ["r", "w2"], ["c2"], OnnxMessages.Attribute("kernel_shape", [1L, 1])),
                OnnxMessages.Node("GlobalAveragePool", "pool", ["c2"], ["p"]),
                OnnxMessages.Node("Flatten", "flatten", ["p"], ["f"]),
                OnnxMessages.Node("Gemm", "fc", ["f", "fc.w"], ["y"], OnnxMessages.Attribute("transB", 1L)),
            ]);
        var graph = OnnxMessages.Graph("computed", nodes,
            [OnnxMessages.FloatTensor("w1", [8, 3, 3, 3], Zeros(216)), OnnxMessages.FloatTensor("w2", [6, 4, 1, 1], Zeros(24)),
             OnnxMessages.FloatTensor("fc.w", [10, 6], Zeros(60)), OnnxMessages.Int64Tensor("first", [0]), OnnxMessages.Int64Tensor("rest", [4, 32, 16]),
             OnnxMessages.FloatTensor("target.f", [4], [1, 4, 32, 16])],
            [OnnxMessages.ValueInfo("x", Onnx.TensorProto.Types.DataType.Float, [null, 3, 16, 16])],
            [OnnxMessages.ValueInfo("y", Onnx.TensorProto.Types.DataType.Float, [null, 10])]);
        OnnxExporter.Write(OnnxMessages.Model(8, "another tool", "1", 13, graph, []), path);

        var (image, layers, unknown) = OnnxLayerShapes.Infer(path);
        var memory = ForwardMemory.OfLargestLayer(image, layers, unknown);
        if (fromWeights)
        {
            Assert.Equal(2, unknown);
            Assert.Equal(["image -> 8x16x16"], layers.Select(l => Describe(l.Input, l.Output)));
            Assert.Equal(4 * (3 * 16 * 16 + 8 * 16 * 16), memory.BytesPerImage);
            Assert.EndsWith("(of the layers whose shapes ONNX Runtime infers: 2 have none)", memory.Basis);
            using var predictor = ImagePredictor.FromOnnx(path, ModelRegistry.Get("parnet_cifar_small") with { InChannels = 3, NumClasses = 10 });
            predictor.CheckImageFits(16);   // the bound it has, not a refusal of the graph
            Assert.Equal(10, predictor.Probabilities(new ParNet.Data.ImageF(3, 16, 16)).Length);
        }
        else
        {
            Assert.Equal(0, unknown);
            Assert.Equal(["image -> 8x16x16", "4x32x16 -> 6x32x16", "6 -> 10"], layers.Select(l => Describe(l.Input, l.Output)));
            Assert.Equal(4 * (3 * 16 * 16 + 4 * 32 * 16 + 6 * 32 * 16), memory.BytesPerImage);
        }
        // each output element's fan-in: conv1 8x16x16 of 3x3x3, conv2 6x32x16 of 4x1x1, fc 10 of 6; none where a shape is unknown
        Assert.Equal(fromWeights ? null : 8 * 16 * 16 * 27 + 6 * 32 * 16 * 4 + 10 * 6, OnnxLayerShapes.MultiplyAdds(OnnxLayerShapes.Weightless(path)));
    }

    /// <summary>bench credited a graph that stores no form (another tool's) with its own model's fused count; counted from the
    /// graph, an export of either form, float32 or int8 (its weights dequantized from int8), counts what the model's trace does.</summary>
    [Theory]
    [InlineData("unfused")]
    [InlineData("fused")]
    [InlineData("int8")]
    public void The_multiply_adds_counted_from_an_exported_graph_are_the_traced_models(string form)
    {
        using var folder = new ExportTempFolder();
        using var trained = ModelRegistry.Create("parnet_cifar_small");
        using var fused = ParNetFuser.Fuse(trained);
        trained.eval();
        fused.eval();
        string path = folder.File(form + ".onnx");
        if (form == "int8") Int8Exporter.Export(fused, path, 32, Int8Exporter.NoiseImages(fused.Config, 32, 2), new Int8Options { CalibrationImages = 2 });
        else OnnxExporter.Export(form == "fused" ? fused : trained, path, 32);
        long traced = (form == "unfused" ? trained : fused).Trace(32, 32).MultiplyAdds();
        Assert.True(traced > 1_000_000, $"{traced} multiply-adds traced");
        Assert.Equal(traced, OnnxLayerShapes.MultiplyAdds(OnnxLayerShapes.Weightless(path), side: 32));
    }
}
