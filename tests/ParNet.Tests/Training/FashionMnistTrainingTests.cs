using ParNet.Cli;
using ParNet.Data;
using ParNet.Training;

namespace ParNet.Tests.Training;

/// <summary>CI's short real training: `parnet train` on a Fashion-MNIST subset, then `parnet eval` (under ~3 min on 2 cores).</summary>
public class FashionMnistTrainingTests
{
    [Fact]
    public void Short_real_training_beats_chance_by_far()
    {
        // Fashion-MNIST must be installed (scripts/install-data.sh; CI runs it as root): a missing data set fails loudly.
        Assert.True(IdxReader.HasSplit(DataLocations.SystemFashionMnist, train: true) || IdxReader.HasSplit(DataLocations.LocalFashionMnist, train: true),
            "Fashion-MNIST is not installed: run scripts/install-data.sh");
        using var dir = new TempDir();
        var output = new StringWriter();
        int code = CommandRunner.Run(["train", "--width", "8", "--subset", "150", "--test-subset", "50", "--epochs", "3",
            "--warmup", "0.5", "--out", dir.Path, "--seed", "1"], output, output);
        Assert.True(code == 0, output.ToString());
        var state = Checkpoint.ReadState(Path.Combine(dir.Path, "checkpoints", "last"));
        Assert.Equal(3, state.History.Count);
        double accuracy = state.History[^1].TestAccuracy!.Value;
        Assert.True(accuracy > 0.5, $"test accuracy {accuracy:P1} after 3 short epochs (chance 10%)\n{output}");

        var evalOut = new StringWriter();
        Assert.Equal(0, CommandRunner.Run(["eval", "--run", dir.Path, "--subset", "50"], evalOut, evalOut));
        // `parnet eval` of the last checkpoint on the same 50-per-class test subset must report the accuracy training logged
        var top1 = System.Text.RegularExpressions.Regex.Match(evalOut.ToString(), @"top-1 (\d+\.\d\d)%");
        Assert.True(top1.Success, evalOut.ToString());
        double evalAccuracy = double.Parse(top1.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) / 100;
        Assert.Equal(accuracy, evalAccuracy, 4);
        Assert.True(evalAccuracy > 0.5, $"eval top-1 {evalAccuracy:P1} (chance 10%)\n{evalOut}");
        Assert.True(File.Exists(Path.Combine(dir.Path, "eval-last-subset50", "confusion.png")));   // --subset: a folder of its own
        // bad input: one line, exit code 2
        Assert.Equal(2, CommandRunner.Run(["train", "--epochs", "x"], evalOut, evalOut));
    }
}
