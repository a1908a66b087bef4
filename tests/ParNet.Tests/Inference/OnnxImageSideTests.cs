using System.Text.Json;
using ParNet.Benchmarking;
using ParNet.Data;
using ParNet.Export;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Tests.Cli;
using ParNet.Tests.Export;

namespace ParNet.Tests.Inference;

/// <summary>
/// An .onnx graph's image side as predict, serve, eval and bench read it. A graph exported with a dynamic height and width
/// (torch.onnx.export's dynamic_axes, as users of the authors' code export) was read as side -1: predict and serve refused
/// it with "image size -1: parnet_s needs a multiple of 32" and every --image-size with "exported for -1x-1", eval refused
/// --image-size, bench's onnx-file row refused it. A graph of another shape than the --model or --config given for it ran
/// until ONNX Runtime refused the first image (channels), or named its logits with another model's classes.
/// </summary>
public class OnnxImageSideTests
{
    static readonly ModelConfig Small = ModelRegistry.Get("parnet_cifar_small") with { Planes = [4, 8, 16], FinalWidth = 16, InChannels = 3, NumClasses = 10 };

    /// <summary>
    /// A small image classifier written as another tool writes one (Conv 3 -> 8 stride 2, ReLU, GlobalAveragePool, Flatten,
    /// Gemm 8 -> 10; fixed seed), saved with its input fixed to 32 x 32 (fixed.onnx) and with a dynamic height and width
    /// (dynamic.onnx; or fixed to <paramref name="height"/> x <paramref name="width"/> where given). It carries ParNet's
    /// metadata for <see cref="Small"/> (as a --config given for it would say) unless <paramref name="keepMetadata"/> is false.
    /// (Our own exporter's graphs are fixed to their side: their stream merges reshape to it.)
    /// </summary>
    static (string Fixed, string Dynamic) Export(ExportTempFolder folder, bool keepMetadata = true, int height = 0, int width = 0, bool weightsListed = false)
    {
        var random = new Random(7);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var metadata = keepMetadata ? new DeploymentInfo { Model = Small, ImageSize = 32 }.ToMetadata() : [];
        Onnx.ModelProto Graph(long? h, long? w) => OnnxMessages.Model(8, "another tool", "1", 13, OnnxMessages.Graph("classifier",
            [
                OnnxMessages.Node("Conv", "conv", ["x", "conv.w", "conv.b"], ["c"], OnnxMessages.Attribute("kernel_shape", [3L, 3]),
                                  OnnxMessages.Attribute("pads", [1L, 1, 1, 1]), OnnxMessages.Attribute("strides", [2L, 2])),
                OnnxMessages.Node("Relu", "relu", ["c"], ["r"]),
                OnnxMessages.Node("GlobalAveragePool", "pool", ["r"], ["p"]),
                OnnxMessages.Node("Flatten", "flatten", ["p"], ["f"]),
                OnnxMessages.Node("Gemm", "fc", ["f", "fc.w", "fc.b"], ["y"], OnnxMessages.Attribute("transB", 1L)),
            ],
            [OnnxMessages.FloatTensor("conv.w", [8, 3, 3, 3], Values(216)), OnnxMessages.FloatTensor("conv.b", [8], Values(8)),
             OnnxMessages.FloatTensor("fc.w", [10, 8], Values(80)), OnnxMessages.FloatTensor("fc.b", [10], Values(10))],
            [Input(h, w)],
            [OnnxMessages.ValueInfo("y", Onnx.TensorProto.Types.DataType.Float, [null, 10])]), metadata);
        string fixedPath = folder.File("fixed.onnx"), dynamicPath = folder.File("dynamic.onnx");
        var fixedGraph = Graph(32, 32);
        random = new Random(7);   // the same weights in both files
        var other = height > 0 ? Graph(height, width) : Graph(null, null);
        if (weightsListed)   // as IR version 3 and torch's keep_initializers_as_inputs write them: every weight a graph input too
            foreach (var graph in new[] { fixedGraph.Graph, other.Graph })
                foreach (var weight in graph.Initializer)
                    graph.Input.Add(OnnxMessages.ValueInfo(weight.Name, Onnx.TensorProto.Types.DataType.Float, weight.Dims.Select(d => (long?)d).ToArray()));
        OnnxExporter.Write(fixedGraph, fixedPath);
        OnnxExporter.Write(other, dynamicPath);
        return (fixedPath, dynamicPath);
    }

    /// <summary>The image input [batch, 3, H, W]; a null side is a dynamic axis of its own name.</summary>
    static Onnx.ValueInfoProto Input(long? height, long? width)
    {
        var input = OnnxMessages.ValueInfo("x", Onnx.TensorProto.Types.DataType.Float, [null, 3, 1, 1]);
        var dims = input.Type.TensorType.Shape.Dim;
        dims[2] = height is long h ? new() { DimValue = h } : new() { DimParam = "height" };
        dims[3] = width is long w ? new() { DimValue = w } : new() { DimParam = "width" };
        return input;
    }

    static ImageF Noise(int side, int seed)
    {
        var random = new Random(seed);
        var image = new ImageF(3, side, side);
        for (int i = 0; i < image.Data.Length; i++) image.Data[i] = (float)(random.NextDouble() * 2 - 1);
        return image;
    }

    [Fact]
    public void A_graph_of_dynamic_height_and_width_takes_any_side_and_answers_as_the_fixed_graph_at_its_own()
    {
        using var folder = new ExportTempFolder();
        var (fixedPath, dynamicPath) = Export(folder);
        using var fixedGraph = ImagePredictor.FromOnnx(fixedPath, null);
        using var dynamicGraph = ImagePredictor.FromOnnx(dynamicPath, null);
        Assert.Equal(32, fixedGraph.FixedSize);
        Assert.Null(dynamicGraph.FixedSize);

        var image = Noise(32, seed: 1);
        var expected = fixedGraph.Probabilities(image);
        var actual = dynamicGraph.Probabilities(image);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-6f);

        Assert.Equal(32, dynamicGraph.Preprocessing().Preprocessing.Size);   // the stored side, as for weights
        Assert.Equal(64, dynamicGraph.Preprocessing(imageSize: 64).Preprocessing.Size);
        Assert.Equal(1.0, dynamicGraph.Probabilities(Noise(64, seed: 2)).Sum(p => (double)p), 1e-5);
        // its memory at 32 is the fixed graph's; at 64 the maps are 4 times as large
        long at32 = dynamicGraph.MemoryPerImage(32)!.BytesPerImage, at64 = dynamicGraph.MemoryPerImage(64)!.BytesPerImage;
        Assert.Equal(fixedGraph.MemoryPerImage(32)!.BytesPerImage, at32);
        Assert.Equal(4.0, (double)at64 / at32, 0.05);

        // a service may rotate its model file away once the predictor is open: the memory check and preprocessing re-read
        // it and failed with FileNotFoundException (library audit, session 39)
        string moved = dynamicPath + ".moved";
        File.Move(dynamicPath, moved);
        try
        {
            Assert.Equal(at64, dynamicGraph.MemoryPerImage(64)!.BytesPerImage);
            dynamicGraph.CheckImageFits(96);
            Assert.Equal(96, dynamicGraph.Preprocessing(imageSize: 96).Preprocessing.Size);
        }
        finally { File.Move(moved, dynamicPath); }

        // bench's onnx-file row: a fixed graph must be the benchmark's size, a dynamic one takes it
        var options = new InferenceBenchmarkOptions { Model = Small, ImageSize = 64 };
        Assert.Contains("exported for 32x32", Assert.Throws<ParNet.Runtime.InvalidSettingException>((options with { OnnxModel = fixedPath }).Validate).Message);
        (options with { OnnxModel = dynamicPath }).Validate();
    }

    [Fact]
    public void Predict_and_eval_take_an_image_size_for_a_graph_of_dynamic_side_and_refuse_one_for_a_fixed_graph()
    {
        using var folder = new ExportTempFolder();
        var (fixedPath, dynamicPath) = Export(folder);
        string png = folder.File("image.png");
        File.WriteAllBytes(png, Serving.ServingTestSupport.Png(40, seed: 3));

        var (code, stdout, stderr) = CliRunner.Run("predict", png, "--weights", dynamicPath, "--image-size", "64", "--json", "--top", "10");
        Assert.True(code == 0, stderr + stdout);
        var top = JsonDocument.Parse(stdout).RootElement.EnumerateArray().Single().GetProperty("top").EnumerateArray().ToList();
        Assert.Equal(10, top.Count);
        Assert.Equal(1.0, top.Sum(t => t.GetProperty("probability").GetDouble()), 1e-4);
        CliRunner.AssertUserError(CliRunner.Run("predict", png, "--weights", fixedPath, "--image-size", "64"),
            "parnet predict: --image-size 64: the ONNX model was exported for 32x32");
        // serve's source (serve --image-size) places the images at the side asked for; it served the natural 32
        using (var served = ParNet.Serving.ServedModel.Open(new PredictorSource { Weights = dynamicPath, ImageSize = 64 }))
        {
            Assert.Equal("parnet_cifar_small (3x64x64) on onnxruntime", served.Description);
            Assert.Equal(64, served.Preprocess(File.ReadAllBytes(png), png, 1 << 30).Height);
        }

        (code, stdout, stderr) = CliRunner.Run("eval", "--weights", dynamicPath, "--subset", "1", "--image-size", "64", "--out", folder.File("report"));
        Assert.True(code == 0, stderr + stdout);
        Assert.StartsWith($"parnet_cifar_small on fashion-mnist test (10 images, 3x64x64; weights {dynamicPath})", stdout);
        CliRunner.AssertUserError(CliRunner.Run("eval", "--weights", fixedPath, "--image-size", "64"),
            "parnet eval: an .onnx file is fixed to its exported input size: no --image-size (ten-crop views keep that size)");
    }

    /// <summary>A graph that lists its weights among its inputs: the memory bound's shape inference added them a second
    /// time, and predict stopped with ONNX Runtime's "Duplicate definition-site" and a stack trace (review of session 36).</summary>
    [Fact]
    public void A_graph_that_lists_its_weights_as_inputs_has_the_memory_bound_of_one_that_does_not()
    {
        using var folder = new ExportTempFolder();
        var (plain, _) = Export(folder);
        using var plainGraph = ImagePredictor.FromOnnx(plain, null);
        long expected = plainGraph.MemoryPerImage(32)!.BytesPerImage;
        using var listingFolder = new ExportTempFolder();
        var (listing, dynamicListing) = Export(listingFolder, weightsListed: true);
        using var listingGraph = ImagePredictor.FromOnnx(listing, null);
        Assert.Equal(expected, listingGraph.MemoryPerImage(32)!.BytesPerImage);
        Assert.DoesNotContain("have none", listingGraph.MemoryPerImage(32)!.Basis);
        using var dynamicGraph = ImagePredictor.FromOnnx(dynamicListing, null);
        Assert.Equal(expected, dynamicGraph.MemoryPerImage(32)!.BytesPerImage);
        var (expectedAnswer, actualAnswer) = (plainGraph.Probabilities(Noise(32, seed: 5)), listingGraph.Probabilities(Noise(32, seed: 5)));
        for (int i = 0; i < expectedAnswer.Length; i++) Assert.Equal(expectedAnswer[i], actualAnswer[i], 1e-6f);
    }

    [Fact]
    public void A_graph_of_non_square_images_is_refused_when_opened()
    {
        using var folder = new ExportTempFolder();
        var (_, oblong) = Export(folder, height: 32, width: 64);
        const string refusal = "its input is 32x64 images; images are brought to a square side here (export it square, or with a dynamic height and width)";
        var e = Assert.Throws<InvalidDataException>(() => ImagePredictor.FromOnnx(oblong, null));
        Assert.Equal($"{oblong}: {refusal}", e.Message);
        // eval and bench read it alike (eval met it in ONNX Runtime with a stack trace: review of session 36)
        CliRunner.AssertUserError(CliRunner.Run("eval", "--weights", oblong, "--subset", "1", "--out", folder.File("report")), $"parnet eval: {oblong}: {refusal}");
        Assert.Equal($"InferenceBenchmarkOptions.OnnxModel = {oblong}: {refusal}",
            Assert.Throws<ParNet.Runtime.InvalidSettingException>(new InferenceBenchmarkOptions { Model = Small, ImageSize = 32, OnnxModel = oblong }.Validate).Message);
    }

    [Fact]
    public void A_configuration_given_for_a_graph_of_other_channels_or_classes_is_refused_when_opened()
    {
        using var folder = new ExportTempFolder();
        var (foreign, _) = Export(folder, keepMetadata: false);
        Assert.Equal($"{foreign}: its graph takes 3-channel images; parnet_cifar_small takes 1",
            Assert.Throws<InvalidDataException>(() => ImagePredictor.FromOnnx(foreign, Small with { InChannels = 1 })).Message);
        Assert.Equal($"{foreign}: its graph gives 10 logits; parnet_cifar_small has 7 classes",
            Assert.Throws<InvalidDataException>(() => ImagePredictor.FromOnnx(foreign, Small with { NumClasses = 7 })).Message);
        // bench's onnx-file row checks the graph against the benchmark's model alike
        Assert.Equal($"InferenceBenchmarkOptions.OnnxModel = {foreign}: its graph takes 3-channel images; parnet_cifar_small takes 1",
            Assert.Throws<ParNet.Runtime.InvalidSettingException>(new InferenceBenchmarkOptions { Model = Small with { InChannels = 1 }, ImageSize = 32, OnnxModel = foreign }.Validate).Message);
        using var agreeing = ImagePredictor.FromOnnx(foreign, Small);
        Assert.Equal(10, agreeing.Probabilities(Noise(32, seed: 4)).Length);
        // served, it claims no form the graph does not store (it was "training form")
        using var served = ParNet.Serving.ServedModel.Open(new PredictorSource { Weights = foreign, Model = Small });
        Assert.Equal("parnet_cifar_small (3x32x32) on onnxruntime", served.Description);
    }
}
