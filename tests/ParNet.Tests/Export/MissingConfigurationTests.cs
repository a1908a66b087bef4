using ParNet.Export;
using ParNet.Inference;
using ParNet.Runtime;
using ParNet.Tests.Cli;
using ParNet.Tests.Models;

namespace ParNet.Tests.Export;

/// <summary>
/// Weights or an exported model with no model configuration, and none given: the library refuses the missing parameter,
/// named as its API names it; `parnet` asks for its options instead (--model/--config: also ExportCliTests, FuseCommandTests).
/// </summary>
public class MissingConfigurationTests
{
    [Fact]
    public void Weights_without_a_configuration_ask_for_the_loaders_config()
    {
        string weights = Fixtures.Path("parnet_official_tiny_silu.safetensors");
        var e = Assert.Throws<InvalidSettingException>(() => ClassifierLoader.LoadWeights(weights, null, NetworkForm.AsStored));
        Assert.Equal($"{weights}: no model configuration stored with these weights; give ClassifierLoader's config " +
                     "(the parnet_official_tiny_silu.json beside them names no model: a sidecar holds a configuration, or \"model\" with one)", e.Message);
        Assert.Equal(ClassifierLoader.ConfigSetting, e.ParamName);
    }

    [Fact]
    public void An_onnx_file_without_a_configuration_in_its_metadata_asks_for_one()
    {
        using var folder = new ExportTempFolder();
        string path = folder.File("bare.onnx");
        using (var model = OfficialParityTests.TrainedTinyModel())
        {
            var proto = OnnxExporter.BuildModel(model, 64, 64);
            proto.MetadataProps.Clear();   // as a graph exported by another tool: no ParNet configuration
            OnnxExporter.Write(proto, path);
        }
        var e = Assert.Throws<InvalidSettingException>(() => ImagePredictor.FromOnnx(path, null));
        Assert.Equal(($"{path}: no ParNet model configuration in its metadata; give ImagePredictor.FromOnnx's config", "ImagePredictor.FromOnnx's config"),
                     (e.Message, e.ParamName));
        CliRunner.AssertUserError(CliRunner.Run("predict", "--weights", path, folder.File("image.png")),
            $"parnet predict: {path}: no ParNet model configuration in its metadata; give --model or --config");
    }
}
