using ParNet.Export;
using ParNet.Tests.Data;
using ParNet.Weights;
using SkiaSharp;

namespace ParNet.Tests.Cli;

/// <summary>
/// Weights that store no data set (a run's checkpoint as runs wrote it before session 36, without metadata, copied out of
/// its run folder with the run's model.json beside it: what the "no model configuration" message suggests): predict and
/// export normalized with a guess (0.5/0.5 for a grey model) and named the classes "class N", without a word (walk of
/// session 34). They warn; --dataset, or statistics stored, silence it. And convert and fuse do not store the guess as if
/// known (they did, silencing the warning for good: audit of session 36).
/// </summary>
public class GuessedStatisticsTests
{
    [Fact]
    public void Weights_without_a_data_set_or_statistics_warn_and_a_dataset_or_stored_statistics_silence_it()
    {
        using var dir = new TempDirectory();
        var (run, copied, image) = CopiedWithoutMetadata(dir);
        const string warning = "warning: no data set or normalization is stored with the weights or given: images are normalized with mean 0.5 and std 0.5, a guess";

        var guessed = CliRunner.Run("predict", "--weights", copied, image);
        Assert.True(guessed.Code == 0, guessed.Err);
        Assert.Contains("parnet predict: " + warning, guessed.Err);
        Assert.Contains("class ", guessed.Out);
        var exported = CliRunner.Run("export", "--weights", copied, "--out", dir.File("m.onnx"));
        Assert.True(exported.Code == 0, exported.Err);
        Assert.Contains("parnet export: " + warning, exported.Err);

        var named = CliRunner.Run("predict", "--weights", copied, "--dataset", "fashion-mnist", image);
        Assert.True(named.Code == 0, named.Err);
        Assert.DoesNotContain("warning", named.Err);
        var inRun = CliRunner.Run("predict", "--weights", Path.Combine(run, "checkpoints", "last", "model.safetensors"), image);
        Assert.True(inRun.Code == 0, inRun.Err);
        Assert.DoesNotContain("warning", inRun.Err);   // in its run folder the checkpoint names its data set:
        Assert.Equal(named.Out, inRun.Out);            // the same weights, names and normalization as --dataset fashion-mnist gave
        // a sidecar with statistics but no data set: stored, not guessed
        File.WriteAllText(dir.File("copied.json"), $$"""{ "model": {{File.ReadAllText(Path.Combine(run, "model.json"))}}, "mean": [0.3], "std": [0.4] }""");
        var stored = CliRunner.Run("predict", "--weights", copied, image);
        Assert.True(stored.Code == 0, stored.Err);
        Assert.DoesNotContain("warning", stored.Err);
    }

    /// <summary>A tiny run in DIR/run; its last weights without metadata in DIR/copied.safetensors with the run's model.json
    /// beside them as copied.json; a grey image DIR/x.png.</summary>
    static (string Run, string Copied, string Image) CopiedWithoutMetadata(TempDirectory dir)
    {
        string run = dir.File("run"), copied = dir.File("copied.safetensors"), image = dir.File("x.png");
        CliRunner.TrainTiny(run);
        StateDict.Write(StateDict.Read(Path.Combine(run, "checkpoints", "last", "model.safetensors")), copied);
        File.Copy(Path.Combine(run, "model.json"), dir.File("copied.json"));
        File.WriteAllBytes(image, TempDirectory.EncodeImage(28, 28, (x, y) => ((byte)(x * 9), (byte)(x * 9), (byte)(x * 9)), SKEncodedImageFormat.Png));
        return (run, copied, image);
    }

    [Fact]
    public void Convert_and_fuse_keep_the_guess_a_guess()
    {
        using var dir = new TempDirectory();
        var (_, copied, image) = CopiedWithoutMetadata(dir);
        foreach (var (command, output) in new[] { ("convert", "converted.safetensors"), ("fuse", "fused.safetensors") })
        {
            var made = CliRunner.Run(command, "--weights", copied, "--out", dir.File(output));
            Assert.True(made.Code == 0, made.Err);
            var stored = DeploymentInfo.ReadSafetensorsMetadata(dir.File(output));
            Assert.True(stored.ContainsKey(WeightsMetadata.KeyConfig), command);
            Assert.False(stored.ContainsKey(WeightsMetadata.KeyMean) || stored.ContainsKey(WeightsMetadata.KeyStd) || stored.ContainsKey(WeightsMetadata.KeyClassNames),
                $"{command} stored {string.Join(", ", stored.Keys)}");
            var predicted = CliRunner.Run("predict", "--weights", dir.File(output), image);
            Assert.True(predicted.Code == 0, predicted.Err);
            Assert.Contains("parnet predict: warning: no data set or normalization is stored with the weights or given", predicted.Err);
        }
    }
}
