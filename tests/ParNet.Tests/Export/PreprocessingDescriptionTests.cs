using Onnx;
using ParNet.Export;
using ParNet.Models;
using ParNet.Tests.Data;
using SkiaSharp;

namespace ParNet.Tests.Export;

/// <summary>An exported .onnx file says how its input is made (parnet.preprocessing): its other metadata gave the side and
/// statistics, not that a 28 px image is zero-padded before normalizing; the file scored 88.2% prepared so and 85.0% padded
/// after normalizing (an export audit of session 48). The words are checked by following them by hand.</summary>
public class PreprocessingDescriptionTests
{
    static readonly ModelConfig Grey = ModelRegistry.Get("parnet_cifar_small") with { Planes = [8, 16, 32], FinalWidth = 32, BlocksPerStream = [1, 1, 1], InChannels = 1, NumClasses = 10 };

    [Fact]
    public void A_fashion_mnist_export_says_it_pads_with_zeros_before_normalizing_and_following_the_words_gives_its_input()
    {
        using var folder = new ExportTempFolder();
        string onnx = folder.File("grey.onnx"), png = folder.File("shirt.png");
        using (var model = ModelFactory.Create(Grey))
            OnnxExporter.Export(model, onnx, 32, new OnnxExportOptions { Info = new DeploymentInfo { Dataset = "fashion-mnist" } });
        ModelProto graph;
        using (var file = File.OpenRead(onnx)) graph = ModelProto.Parser.ParseFrom(file);
        string words = graph.MetadataProps.Single(p => p.Key == "parnet.preprocessing").Value;
        Assert.Equal("decode, pixels scaled to [0, 1]; to grey (ITU-R 601 luma: 0.299 R + 0.587 G + 0.114 B); unless 28x28, resize the short " +
                     "side to 28 (bicubic) and centre-crop 28x28; pad every side with 2 px of 0 (before normalizing) to 32x32; " +
                     "(x - [0.286]) / [0.353] per channel; float32 [N, 1, 32, 32] (channels first)", words);

        // the words, by hand, for a grey 28x28 image: v / 255, a border of 2 zeros, then (x - 0.286) / 0.353
        ExportCliTests.WritePng(png, 28, (x, y) => new SKColor((byte)(9 * x), (byte)(9 * x), (byte)(9 * x)));
        var input = new DeploymentPreprocessing(Grey, new DeploymentInfo { Dataset = "fashion-mnist" }, 32).Load(png);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
            {
                float raw = x is >= 2 and < 30 && y is >= 2 and < 30 ? 9 * (x - 2) / 255f : 0f;
                Assert.Equal((raw - 0.286) / 0.353, input[0, y, x], 1e-5);
            }
    }

    /// <summary>A model of two channels takes no image this library makes: the graph is exported without the words, as before
    /// them (building them failed the export: review, session 48).</summary>
    [Fact]
    public void A_model_no_image_is_made_for_is_exported_without_the_words()
    {
        using var folder = new ExportTempFolder();
        string onnx = folder.File("two.onnx");
        using (var model = ModelFactory.Create(Grey with { InChannels = 2 }))
            OnnxExporter.Export(model, onnx, 32);
        ModelProto graph;
        using (var file = File.OpenRead(onnx)) graph = ModelProto.Parser.ParseFrom(file);
        Assert.Contains(graph.MetadataProps, p => p.Key == "parnet.model_config");
        Assert.DoesNotContain(graph.MetadataProps, p => p.Key == "parnet.preprocessing");
    }

    [Fact]
    public void An_rgb_export_says_it_resizes_and_centre_crops_with_the_data_sets_statistics()
    {
        var rgb = Grey with { InChannels = 3 };
        var words = new DeploymentPreprocessing(rgb, new DeploymentInfo { Dataset = "imagenet" }, 64).Description;
        Assert.Equal("decode, pixels scaled to [0, 1]; unless 64x64, resize the short side to 73 (bicubic) and centre-crop 64x64; " +
                     "(x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225] per channel; float32 [N, 3, 64, 64] (channels first)", words);
        // no data set and no statistics: the guess is named as one
        Assert.EndsWith("per channel (statistics guessed: none were stored); float32 [N, 3, 64, 64] (channels first)",
                        new DeploymentPreprocessing(rgb, new DeploymentInfo(), 64).Description);
    }
}
