using ParNet.Export;
using ParNet.Weights;
using ParNet.Tests.Data;
using SkiaSharp;

namespace ParNet.Tests.Cli;

/// <summary>
/// A run checkpoint's weights file copied out of its run (what a user ships): its model configuration, data set, class
/// names and side were only in state.json and run.json beside it, so `parnet predict --weights model.safetensors` of the
/// copy stopped at "no model configuration stored with these weights; give --model NAME or --config FILE", and with them
/// given, still needed --dataset and named the classes "class N". The weights files now carry that in their metadata.
/// </summary>
public class CopiedCheckpointWeightsTests
{
    [Fact]
    public void Model_and_ema_weights_copied_out_of_their_run_predict_as_they_do_in_it()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run"), ship = dir.File("ship"), image = dir.File("shoe.png");
        CliRunner.TrainTiny(run, "--classes", "5-9", "--ema-decay", "0.9");
        string checkpoint = Path.Combine(run, "checkpoints", "last");
        Directory.CreateDirectory(ship);
        foreach (var file in new[] { "model.safetensors", "ema.safetensors" })
            File.Copy(Path.Combine(checkpoint, file), Path.Combine(ship, file));
        File.WriteAllBytes(image, TempDirectory.EncodeImage(28, 28, (x, y) => ((byte)(x * 9), (byte)(x * 9), (byte)(y * 9)), SKEncodedImageFormat.Png));

        var stored = DeploymentInfo.FromMetadata(DeploymentInfo.ReadSafetensorsMetadata(Path.Combine(ship, "model.safetensors")));
        Assert.Equal(["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"], stored.ClassNames);
        Assert.Equal(("fashion-mnist", 32, false, 5), (stored.Dataset, stored.ImageSize, stored.Fused, stored.Model!.NumClasses));
        // what the run's state.json and run.json say of weights without metadata in the checkpoint folder: the same
        StateDict.Write(StateDict.Read(Path.Combine(checkpoint, "model.safetensors")), Path.Combine(checkpoint, "bare.safetensors"));
        var beside = DeploymentInfo.ForWeights(Path.Combine(checkpoint, "bare.safetensors"));
        Assert.Empty(DeploymentInfo.ReadSafetensorsMetadata(Path.Combine(checkpoint, "bare.safetensors")));   // so read from state.json, run.json
        Assert.Equal((beside.Model!.ToJson(), beside.Dataset, beside.ImageSize), (stored.Model.ToJson(), stored.Dataset, stored.ImageSize));
        Assert.Equal(beside.ClassNames, stored.ClassNames);

        foreach (var (inRun, copied) in new[]
                 {
                     (new[] { "--weights", Path.Combine(checkpoint, "model.safetensors") }, new[] { "--weights", Path.Combine(ship, "model.safetensors") }),
                     (["--weights", Path.Combine(checkpoint, "model.safetensors"), "--ema"], ["--weights", Path.Combine(ship, "ema.safetensors")]),
                 })
        {
            var expected = CliRunner.Run(["predict", image, "--json", .. inRun]);
            var actual = CliRunner.Run(["predict", image, "--json", .. copied]);
            Assert.True(actual.Code == 0, actual.Err);
            Assert.Equal(expected.Out, actual.Out);   // the same classes, names and probabilities
            Assert.Contains("\"name\": \"Ankle boot\"", actual.Out);
        }
    }
}
