using ParNet.Export;
using ParNet.Tests.Data;
using ParNet.Tests.Models;

namespace ParNet.Tests.Export;

/// <summary>Sidecar files beside weights: a plain model configuration in any key case, and bad ones refused naming the file.</summary>
public class DeploymentInfoTests
{
    /// <summary>Statistics no image can be normalized with are refused as the file's, naming it: a std of 0 failed at the first
    /// image naming no file, and three means on a Fashion-MNIST model were averaged without a word (an export audit of session 48).</summary>
    [Theory]
    [InlineData("fashion-mnist", "[0.286]", "[0]", "parnet.mean [0.286], parnet.std [0]: the means must be finite and each std a positive number")]
    [InlineData("fashion-mnist", "[0.485,0.456,0.406]", "[0.229,0.224,0.225]", "parnet.mean has 3 value(s); fashion-mnist images have 1 channel(s)")]
    [InlineData(null, "[0.5,0.5,0.5]", "[0.5,0.5]", "parnet.mean has 3 value(s) and parnet.std 2: one per channel in each")]
    [InlineData(null, "[0.5]", null, "parnet.mean is stored without parnet.std")]
    public void Stored_statistics_that_cannot_normalize_are_refused_naming_the_file(string? dataset, string mean, string? std, string problem)
    {
        var entries = new Dictionary<string, string> { ["parnet.mean"] = mean };
        if (std is not null) entries["parnet.std"] = std;
        if (dataset is not null) entries["parnet.dataset"] = dataset;
        var e = Assert.Throws<InvalidDataException>(() => DeploymentInfo.FromMetadata(entries, "m.onnx"));
        Assert.Equal($"m.onnx: {problem}", e.Message);
        entries["parnet.mean"] = "[0.5]";   // the same file with sound statistics reads
        entries["parnet.std"] = "[0.25]";
        entries.Remove("parnet.dataset");
        Assert.Equal([0.25f], DeploymentInfo.FromMetadata(entries, "m.onnx").Std!);
    }

    [Fact]
    public void A_plain_configuration_sidecar_is_read_whatever_the_case_of_its_keys()
    {
        using var dir = new TempDirectory();
        string weights = dir.File("w.safetensors");
        File.WriteAllText(dir.File("w.json"), """{ "name": "lower", "planes": [16, 32, 64], "blocksPerStream": [1, 1, 1], "finalWidth": 128, "layout": "Cifar", "numClasses": 7 }""");
        var info = DeploymentInfo.ForWeights(weights);
        Assert.NotNull(info.Model);
        Assert.Equal([16, 32, 64], info.Model!.Planes);
        Assert.Equal(7, info.Model.NumClasses);
    }

    /// <summary>A run checkpoint deploys at the side the run trained at: an ImageNet-layout network fine-tuned on
    /// Fashion-MNIST (32 px) was predicted, served, exported and evaluated at its natural 224 (76% top-1 became 19%: walk of
    /// session 34); a folder run at its recipe's crop; a CIFAR-layout network at 32 as before.</summary>
    [Theory]
    [InlineData(ParNet.Models.Layout.ImageNet, "fashion-mnist", 32)]
    [InlineData(ParNet.Models.Layout.ImageNet, "cifar10", 32)]
    [InlineData(ParNet.Models.Layout.ImageNet, "folder", 160)]
    [InlineData(ParNet.Models.Layout.Cifar, "fashion-mnist", 32)]
    [InlineData(ParNet.Models.Layout.ImageNet, "mnist", null)]   // a library user's own source under a recipe of that name:
    [InlineData(ParNet.Models.Layout.ImageNet, "my-data", null)]   // no side stored (the model's natural side), still readable
    public void A_run_checkpoint_deploys_at_the_side_it_trained_at(ParNet.Models.Layout layout, string dataset, int? side)
    {
        using var dir = new TempDirectory();
        var model = layout == ParNet.Models.Layout.ImageNet ? OfficialParityTests.TinyConfig : ParNet.Models.ModelRegistry.Get("parnet_cifar_small");
        var state = new ParNet.Training.TrainingState
        {
            Recipe = ParNet.Training.Recipes.Get("finetune") with { Dataset = dataset, ImageSize = 160 }, Model = model,
        };
        File.WriteAllText(dir.File(ParNet.Training.Checkpoint.StateFile), state.ToJson());
        Assert.Equal(side, DeploymentInfo.ForWeights(dir.File(ParNet.Training.Checkpoint.WeightsFile)).ImageSize);
    }

    [Fact]
    public void An_invalid_configuration_sidecar_is_invalid_data_naming_the_file()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("w.json"), """{ "Planes": [16, -32, 64], "BlocksPerStream": [1, 1, 1], "FinalWidth": 128 }""");
        var e = Assert.Throws<InvalidDataException>(() => DeploymentInfo.ForWeights(dir.File("w.safetensors")));
        Assert.Contains(dir.File("w.json"), e.Message);
    }

    [Fact]
    public void Preprocessing_for_a_grey_model_normalizes_with_grey_statistics_whether_or_not_the_information_names_the_model()
    {
        // without Model in the information, a grey model's image was normalized with ImageNet's RGB statistics averaged
        var grey = new ParNet.Models.ModelConfig
        {
            Name = "grey", Layout = ParNet.Models.Layout.Cifar, Planes = [8, 16, 32], FinalWidth = 32, BlocksPerStream = [1, 1, 1],
            NumClasses = 10, InChannels = 1,
        };
        using var dir = new TempDirectory();
        string png = dir.File("white.png");
        ExportCliTests.WritePng(png, 28, (_, _) => SkiaSharp.SKColors.White);
        var bare = new DeploymentPreprocessing(grey, new DeploymentInfo(), 32).Load(png);
        var named = new DeploymentPreprocessing(grey, new DeploymentInfo { Model = grey }, 32).Load(png);
        Assert.Equal(named.Data, bare.Data);
        Assert.Equal(1f, bare[0, 16, 16]);   // white, (1 - 0.5) / 0.5: the grey default statistics
        // a side the model cannot take: it prepared 30x30 images, which only the forward pass refused (walk K)
        var e = Assert.Throws<ArgumentException>(() => new DeploymentPreprocessing(grey, new DeploymentInfo(), 30));
        Assert.Equal("grey: image height and width must be positive multiples of 8 (every stride-2 block needs an even size); got 30x30", e.Message);
    }
}

/// <summary>Files that older versions (before session 36) wrote with their guess stored as if known: the guessed statistics
/// and "class N" names, no data set. The newest version predicted, served and exported them again without the guess's warning
/// (upgrade audit, session 37: a Fashion-MNIST model fused by the version of 2026-12-04 without --dataset answered "75.57 %
/// class 5" where --dataset fashion-mnist answers "54.48 % Ankle boot").</summary>
public class StoredGuessTests
{
    static readonly ParNet.Models.ModelConfig Grey = ParNet.Models.ModelRegistry.Get("parnet_cifar_small") with { InChannels = 1, NumClasses = 10 };
    static readonly ParNet.Models.ModelConfig Rgb = ParNet.Models.ModelRegistry.Get("parnet_cifar_small") with { NumClasses = 10 };

    [Fact]
    public void An_older_versions_stored_guess_is_a_guess_again_and_is_not_stored_again()
    {
        var old = new DeploymentInfo { Mean = [0.5f], Std = [0.5f], ClassNames = ParNet.Data.DatasetInfo.PlaceholderClassNames(10) }.CompletedFor(Grey);
        Assert.True(old.StatisticsGuessed);
        var written = old.ToMetadata().ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.False(written.ContainsKey(ParNet.Weights.WeightsMetadata.KeyMean));
        Assert.False(written.ContainsKey(ParNet.Weights.WeightsMetadata.KeyClassNames));
        var imagenetGuess = new DeploymentInfo { Mean = ParNet.Data.DatasetInfo.ImageNetMean, Std = ParNet.Data.DatasetInfo.ImageNetStd }.CompletedFor(Rgb);
        Assert.True(imagenetGuess.StatisticsGuessed);
    }

    [Fact]
    public void The_same_statistics_with_a_data_set_or_real_class_names_or_other_values_are_known()
    {
        var names = new[] { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };
        Assert.False(new DeploymentInfo { Mean = [0.5f], Std = [0.5f], ClassNames = names }.CompletedFor(Grey).StatisticsGuessed);
        Assert.False(new DeploymentInfo { Mean = [0.5f], Std = [0.5f], Dataset = "folder" }.CompletedFor(Grey).StatisticsGuessed);
        Assert.False(new DeploymentInfo { Mean = [0.2860f], Std = [0.3530f] }.CompletedFor(Grey).StatisticsGuessed);
        var guessed = new DeploymentInfo { Mean = [0.5f], Std = [0.5f] }.CompletedFor(Grey);   // said to be a guess, and still used
        Assert.True(guessed.StatisticsGuessed);
        Assert.Equal([0.5f], guessed.Mean!);
    }
}
