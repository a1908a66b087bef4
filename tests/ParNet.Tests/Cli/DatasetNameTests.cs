using System.Text.Json;
using ParNet.Data;
using ParNet.Tests.Data;

namespace ParNet.Tests.Cli;

/// <summary>train and eval refused "Fashion-MNIST", "cifar-10" and the like, which predict and export took (a data audit of
/// session 47): they take another spelling of a known name as it, and a run stores the one name.</summary>
public class DatasetNameTests
{
    [Theory]
    [InlineData("Fashion-MNIST", "fashion-mnist"), InlineData("fashion_mnist", "fashion-mnist"), InlineData("CIFAR-10", "cifar10"),
     InlineData("cifar-100", "cifar100"), InlineData("ImageNet-1k", "imagenet"), InlineData("Folder", "folder"), InlineData("MNIST", "mnist"), InlineData("svhn", "svhn")]
    public void Other_spellings_of_a_known_data_set_are_its_name(string given, string name) => Assert.Equal(name, DataPipelines.CanonicalName(given));

    [Fact]
    public void Train_and_eval_take_another_spelling_and_the_run_stores_the_name()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        CliRunner.TrainTiny(run, "--dataset", "Fashion-MNIST", "--threads", "1", "--workers", "0");
        using var settings = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "run.json")));
        Assert.Equal("fashion-mnist", settings.RootElement.GetProperty("Dataset").GetString());
        var evaluated = CliRunner.Run("eval", "--run", run, "--dataset", "FASHION_MNIST", "--subset", "1", "--threads", "1", "--out", dir.File("eval"));
        Assert.True(evaluated.Code == 0, evaluated.Err);
        Assert.Contains("on fashion-mnist test", evaluated.Out);
    }
}
