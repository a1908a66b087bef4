using ParNet.Cli;
using ParNet.Export;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Weights;

namespace ParNet.Tests.Export;

/// <summary>
/// The fused form of a network that has none: <see cref="ClassifierLoader"/> refuses its form setting before any weights
/// are read into a model (it threw ParNetFuser's NotSupportedException after loading them, which the CLI mapped to
/// `--fused` in three places), and the CLI words the refusal as `--fused`. Other forms of the same weights load.
/// </summary>
public class LoaderFormTests
{
    static readonly ModelConfig ResNet = ModelRegistry.Get("resnet12_wide") with { NumClasses = 10 };

    const string Reason = "resnet12_wide: only ParNet (RepVGG-SSE) models can be fused; this one is ResNetBasic, which has an " +
                          "activation between its convs and so no single-conv form";

    static void AssertRefusedAsTheForm(InvalidSettingException e)
    {
        Assert.Equal(ClassifierLoader.FormSetting, e.ParamName);
        Assert.Equal($"ClassifierLoader.LoadWeights' form = Fused: {Reason}", e.Message);
        Assert.Equal($"--fused: {Reason}", OptionNames.Worded(e));
    }

    [Fact]
    public void Weights_of_a_network_without_a_fused_form_are_refused_in_it_and_load_as_stored()
    {
        using var folder = new ExportTempFolder();
        string path = folder.File("resnet.safetensors");
        using (var model = ModelFactory.Create(ResNet)) StateDict.Save(model, path);

        AssertRefusedAsTheForm(Assert.Throws<InvalidSettingException>(() => ClassifierLoader.LoadWeights(path, ResNet, NetworkForm.Fused)));
        File.WriteAllText(folder.File("resnet.json"), ResNet.ToJson());   // the network read from a sidecar, not given: refused alike
        AssertRefusedAsTheForm(Assert.Throws<InvalidSettingException>(() => ClassifierLoader.LoadWeights(path, null, NetworkForm.Fused)));
        foreach (var form in new[] { NetworkForm.AsStored, NetworkForm.FusedWhereFusable, NetworkForm.Training })
        {
            var loaded = ClassifierLoader.LoadWeights(path, ResNet, form);
            using (loaded.Model) Assert.False(loaded.Info.Fused, $"{form}");
        }
    }

    [Fact]
    public void A_randomly_initialized_network_without_a_fused_form_is_refused_in_it()
    {
        AssertRefusedAsTheForm(Assert.Throws<InvalidSettingException>(() => ClassifierLoader.RandomlyInitialized(ResNet, NetworkForm.Fused)));
        var (model, info) = ClassifierLoader.RandomlyInitialized(ResNet, NetworkForm.FusedWhereFusable);
        using (model) Assert.False(info.Fused);
    }
}
