using ParNet.Data;
using ParNet.Export;
using ParNet.Inference;
using ParNet.Runtime;
using ParNet.Tests.Models;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ParNet.Tests.Inference;

/// <summary><see cref="PredictorSource.Open"/> on the authors' tiny fixture: the probabilities of the authors' logits, and
/// those of the predictor made by hand from the same model (<see cref="ImagePredictor.ForTorch"/>).</summary>
public class PredictorSourceOpeningTests
{
    [SkippableTheory]
    [InlineData(PredictorEngine.Torch, NetworkForm.Training, 1e-5)]
    [InlineData(PredictorEngine.Torch, NetworkForm.FusedWhereFusable, 1e-5)]
    [InlineData(PredictorEngine.TorchWinograd, NetworkForm.FusedWhereFusable, 1e-4)]
    [InlineData(PredictorEngine.OnnxRuntime, NetworkForm.FusedWhereFusable, 1e-4)]
    public void Weights_opened_behind_an_engine_give_the_authors_probabilities(PredictorEngine engine, NetworkForm form, double tolerance)
    {
        Skip.If(engine == PredictorEngine.TorchWinograd && !WinogradConvolution.IsSupported, WinogradConvolution.UnsupportedReason);
        var io = Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"));
        Tensor input = io["input"], logits = io["logits"];
        int n = (int)input.size(0), c = (int)input.size(1), h = (int)input.size(2), w = (int)input.size(3);
        var images = Enumerable.Range(0, n).Select(i => new ImageF(input[i].contiguous().data<float>().ToArray(), c, h, w)).ToList();

        using var predictor = new PredictorSource
        {
            Weights = Fixtures.Path("parnet_official_tiny_silu.safetensors"), Model = OfficialParityTests.TinyConfig, Engine = engine, Form = form, ImageSize = h,
        }.Open();
        Assert.Equal(form != NetworkForm.Training, predictor.Info.Fused);
        Assert.Equal(engine == PredictorEngine.TorchWinograd, predictor.Winograd is { Convolutions: > 0 });
        var probabilities = predictor.Probabilities(images);

        using var expected = nn.functional.softmax(logits, 1);
        using var actual = tensor(probabilities.SelectMany(p => p).ToArray(), [n, probabilities[0].Length]);
        double error = OfficialParityTests.RelativeL2(actual, expected);
        Assert.True(error <= tolerance, $"relative L2 error of the probabilities {error:E3}");

        using var byHand = ImagePredictor.ForTorch(OfficialParityTests.TrainedTinyModel(), new DeploymentInfo());
        using var handMade = tensor(byHand.Probabilities(images).SelectMany(p => p).ToArray(), [n, probabilities[0].Length]);
        double difference = OfficialParityTests.RelativeL2(actual, handMade);
        Assert.True(difference <= tolerance, $"relative L2 difference from ImagePredictor.ForTorch {difference:E3}");
    }

    [Fact]
    public void The_preprocessing_comes_from_the_stored_metadata_or_the_data_set_named()
    {
        using var predictor = new PredictorSource { Weights = Fixtures.Path("parnet_official_tiny_silu.safetensors"), Model = OfficialParityTests.TinyConfig }.Open();
        var (stored, placeholders) = predictor.Preprocessing();
        Assert.Equal(OfficialParityTests.TinyConfig.DefaultImageSize, stored.Size);
        Assert.Equal(DatasetInfo.PlaceholderClassNames(1000), placeholders);

        var (imagenet, names) = predictor.Preprocessing("imagenet", 64);
        Assert.Equal(64, imagenet.Size);
        Assert.Equal(DatasetInfo.ImageNet.ClassNames, names);
        var e = Assert.Throws<InvalidSettingException>(() => predictor.Preprocessing(imageSize: 30));
        Assert.Equal(ImagePredictor.ImageSizeSetting, e.ParamName);
        Assert.Equal("image size 30: parnet_official_tiny_silu needs a multiple of 32", e.Message);
    }
}
