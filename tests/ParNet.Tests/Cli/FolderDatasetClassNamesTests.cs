using System.Text.Json;
using ParNet.Inference;
using ParNet.Tests.Data;
using ParNet.Tests.Export;
using SkiaSharp;

namespace ParNet.Tests.Cli;

/// <summary>
/// `--dataset folder` on predict and export, for weights trained on an image folder: the class names stored with them
/// are the folder's and are kept; they were replaced by "class 0", "class 1", ... (in the exported .onnx too).
/// </summary>
public class FolderDatasetClassNamesTests
{
    static string WeightsOfAFolderRun(TempDirectory dir) => ExportTestSupport.FolderRunWeights(dir.File("w.safetensors"), "dög ü", "zebra stripes");

    [Fact]
    public void Predict_with_dataset_folder_names_the_classes_as_stored()
    {
        using var dir = new TempDirectory();
        string weights = WeightsOfAFolderRun(dir), image = dir.File("a.png");
        File.WriteAllBytes(image, TempDirectory.EncodeImage(32, 32, (x, y) => ((byte)(x * 8), (byte)(y * 8), 7), SKEncodedImageFormat.Png));
        var (code, stdout, stderr) = CliRunner.Run("predict", "--weights", weights, "--dataset", "folder", "--json", image);
        Assert.True(code == 0, stderr);
        var top = JsonDocument.Parse(stdout).RootElement[0].GetProperty("top").EnumerateArray()
            .ToDictionary(t => t.GetProperty("class").GetInt32(), t => t.GetProperty("name").GetString());
        Assert.Equal("dög ü", top[0]);
        Assert.Equal("zebra stripes", top[1]);
    }

    [Fact]
    public void Export_with_dataset_folder_stores_the_classes_as_stored()
    {
        using var dir = new TempDirectory();
        string weights = WeightsOfAFolderRun(dir), onnx = dir.File("m.onnx");
        var (code, _, stderr) = CliRunner.Run("export", "--weights", weights, "--dataset", "folder", "--out", onnx);
        Assert.True(code == 0, stderr);
        using var engine = new OnnxRuntimeEngine(onnx);
        Assert.Equal(["dög ü", "zebra stripes"], engine.Info.ClassNames);
        Assert.Equal("folder", engine.Info.Dataset);
    }
}
