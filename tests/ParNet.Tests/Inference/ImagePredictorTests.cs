using ParNet.Data;
using ParNet.Export;
using ParNet.Fusion;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Tests.Models;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ParNet.Tests.Inference;

/// <summary>The TorchSharp predictor (`parnet predict` and `parnet serve` with --engine torch) against the authors' fixture.</summary>
public class ImagePredictorTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_torch_predictor_runs_channels_last_and_gives_the_authors_probabilities(bool fused)
    {
        var io = Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"));
        Tensor input = io["input"], logits = io["logits"];
        var trained = OfficialParityTests.TrainedTinyModel();
        using var fusedFrom = fused ? trained : null;   // the predictor owns (and disposes) the model it runs
        ImageClassifier model = fused ? ParNetFuser.Fuse(trained) : trained;
        using var predictor = ImagePredictor.ForTorch(model, new DeploymentInfo { Dataset = "imagenet" });

        // every spatial conv weight (the ones oneDNN would otherwise reorder) is laid out channels_last
        var spatial = model.parameters().Where(p => p.dim() == 4 && p.size(1) > 1 && p.size(2) * p.size(3) > 1).ToList();
        Assert.NotEmpty(spatial);
        Assert.All(spatial, p => Assert.True(MemoryFormat.IsChannelsLast(p), $"a weight {string.Join("x", p.shape)} is not channels_last"));

        int n = (int)input.size(0), c = (int)input.size(1), h = (int)input.size(2), w = (int)input.size(3);
        var images = Enumerable.Range(0, n).Select(i => new ImageF(input[i].contiguous().data<float>().ToArray(), c, h, w)).ToList();
        var probabilities = predictor.Probabilities(images);
        using var expected = nn.functional.softmax(logits, 1);
        using var actual = tensor(probabilities.SelectMany(p => p).ToArray(), [n, probabilities[0].Length]);
        double error = OfficialParityTests.RelativeL2(actual, expected);
        Assert.True(error <= 1e-5, $"relative L2 error of the probabilities {error:E3}");
    }

    [Theory]
    [InlineData("torch")]
    [InlineData("torch-winograd")]
    public void A_model_handed_over_in_training_mode_predicts_with_its_running_statistics(string engine)
    {
        var io = Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"));
        Tensor input = io["input"], logits = io["logits"];
        var model = OfficialParityTests.TrainedTinyModel();
        model.train();   // as a model comes out of training; the predictor once ran it so, on each batch's own statistics
        var runningMean = model.state_dict()["inits.0.0.block.rbr_dense.bn.running_mean"].clone();
        using var predictor = engine == "torch" ? ImagePredictor.ForTorch(model, new DeploymentInfo())
            : ImagePredictor.ForTorchWinograd(model, new DeploymentInfo());

        Assert.False(model.training);
        int c = (int)input.size(1), h = (int)input.size(2), w = (int)input.size(3);
        var probabilities = predictor.Probabilities(new ImageF(input[0].contiguous().data<float>().ToArray(), c, h, w));
        using var expected = nn.functional.softmax(logits[0], 0);
        using var actual = tensor(probabilities);
        double error = OfficialParityTests.RelativeL2(actual, expected);
        Assert.True(error <= 1e-5, $"relative L2 error of the probabilities {error:E3}");
        Assert.True(model.state_dict()["inits.0.0.block.rbr_dense.bn.running_mean"].eq(runningMean).all().item<bool>());
    }

    [Fact]
    public void Deployment_information_without_a_model_names_one_class_per_logit_and_a_wrong_count_is_refused()
    {
        var config = OfficialParityTests.TinyConfig with { NumClasses = 3 };
        using var predictor = ImagePredictor.ForTorch(new ParNetModel(config), new DeploymentInfo());
        Assert.Equal(["class 0", "class 1", "class 2"], predictor.Info.ClassNames);
        Assert.Equal(3, predictor.Probabilities(new ImageF(3, 64, 64)).Length);

        var error = Assert.Throws<ArgumentException>(() => ImagePredictor.ForTorch(new ParNetModel(config), new DeploymentInfo { ClassNames = ["cat", "dog"] }));
        Assert.Contains("2 class names for the 3 classes of", error.Message);
    }
}
