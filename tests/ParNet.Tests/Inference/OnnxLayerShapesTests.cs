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

        var (image, layers) = OnnxLayerShapes.Infer(path);
        var graph = fused.Trace(32, 32);
        // an int8 graph's first conv reads the image dequantized: a value of its own, of the image's shape
        var traced = graph.Nodes.Where(n => n.IsLayer)
            .Select(n => Describe(n.Inputs[0].Kind == LayerKind.Input && !int8 ? null : n.Inputs[0].Shape, n.Shape)).Order().ToList();

        Assert.Equal([3, 32, 32], image);
        Assert.True(traced.Count > 20, $"only {traced.Count} layers traced");
        Assert.Equal(traced, layers.Select(l => Describe(l.Input, l.Output)).Order().ToList());
        if (!int8) Assert.Equal(ForwardMemory.OfLargestLayer(graph).BytesPerImage, ForwardMemory.OfLargestLayer(image, layers).BytesPerImage);
    }
}
