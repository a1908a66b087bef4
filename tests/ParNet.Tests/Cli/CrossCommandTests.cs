using SkiaSharp;
using ParNet.Tests.Data;

namespace ParNet.Tests.Cli;

/// <summary>A model taken across commands (train, eval, export --int8, fuse, predict): what one command knows of the weights
/// the next one uses (cross-command audit, session 43).</summary>
public class CrossCommandTests
{
    /// <summary>An image folder DIR/{train,val}/{a,b,c}/ of two 16x16 PNGs a class, and in train/a and val/a a file that is
    /// no image: what a run on classes b and c never reads.</summary>
    static string ThreeClassFolder(TempDirectory dir)
    {
        string root = dir.File("data");
        foreach (var split in new[] { "train", "val" })
            foreach (var (cls, k) in new[] { ("a", 0), ("b", 1), ("c", 2) })
            {
                string folder = Path.Combine(root, split, cls);
                Directory.CreateDirectory(folder);
                for (int i = 0; i < 2; i++)
                    File.WriteAllBytes(Path.Combine(folder, $"{i}.png"),
                        TempDirectory.EncodeImage(16, 16, (x, y) => ((byte)(x * 9 * k), (byte)(y * 9 + 40 * i), (byte)(60 * k)), SKEncodedImageFormat.Png));
                if (cls == "a") File.WriteAllText(Path.Combine(folder, "broken.png"), "not an image");
            }
        return root;
    }

    [Fact]
    public void A_runs_checkpoint_file_is_evaluated_and_calibrated_on_the_runs_data_classes_and_side()
    {
        using var dir = new TempDirectory();
        string data = ThreeClassFolder(dir), run = dir.File("run");
        var trained = CliRunner.Run("train", "--recipe", "cifar", "--dataset", "folder", "--data", data, "--classes", "1,2", "--image-size", "48",
                                    "--width", "4", "--epochs", "1", "--batch-size", "2", "--threads", "1", "--out", run);
        Assert.True(trained.Code == 0, trained.Err + trained.Out);
        string weights = Path.Combine(run, "checkpoints", "last", "model.safetensors");

        // eval --weights of a run's checkpoint file: the run's data folder (it asked for --data) and classes (b and c: the 4
        // images of val/b and val/c, not the broken one of val/a)
        var evaluated = CliRunner.Run("eval", "--weights", weights, "--threads", "1", "--out", dir.File("eval"));
        Assert.True(evaluated.Code == 0, evaluated.Err + evaluated.Out);
        Assert.Contains("test (4 images, 3x48x48", evaluated.Out);
        // with --recipe, at the side stored with the weights still (it scored at the recipe's 32 px, without a word)
        var withRecipe = CliRunner.Run("eval", "--weights", weights, "--recipe", "cifar", "--threads", "1", "--out", dir.File("eval-recipe"));
        Assert.True(withRecipe.Code == 0, withRecipe.Err + withRecipe.Out);
        Assert.Contains("test (4 images, 3x48x48", withRecipe.Out);

        // int8 calibration draws from the run's classes: 4 training images (it read train/a, broken file included); a fifth is refused
        var calibrated = CliRunner.Run("export", "--weights", weights, "--int8", "--calibration", "4", "--out", dir.File("m.int8.onnx"));
        Assert.True(calibrated.Code == 0, calibrated.Err + calibrated.Out);
        Assert.Equal("", calibrated.Err);
        // a folder of none of the weights' classes calibrates (any images like the deployment's serve), and is said: it was
        // taken without a word where eval refuses it (a data audit of session 47)
        string other = dir.File("other"), copied = dir.File("copied.safetensors");
        foreach (var cls in new[] { "x", "y" })
        {
            Directory.CreateDirectory(Path.Combine(other, "train", cls));
            for (int i = 0; i < 2; i++)
                File.WriteAllBytes(Path.Combine(other, "train", cls, $"{i}.png"), TempDirectory.EncodeImage(16, 16, (x, y) => ((byte)(x * 5), (byte)(y * 7 + i), 9), SKEncodedImageFormat.Png));
        }
        File.Copy(weights, copied);   // not a run's file: its classes are the names stored in it, b and c
        var elsewhere = CliRunner.Run("export", "--weights", copied, "--int8", "--calibration", "4", "--dataset", "folder", "--data", other, "--out", dir.File("o.int8.onnx"));
        Assert.True(elsewhere.Code == 0, elsewhere.Err + elsewhere.Out);
        Assert.Equal($"parnet export: warning: calibrating on the classes of {Path.Combine(other, "train")} (x, y), not the 2 stored with the weights (b, c): " +
                     "its images should look like those the model will see\n", elsewhere.Err.ReplaceLineEndings("\n"));
        CliRunner.AssertUserError(CliRunner.Run("export", "--weights", weights, "--int8", "--calibration", "5", "--out", dir.File("m5.int8.onnx")),
                                  "--int8 calibration: 5 calibration images asked for: the folder training split has 4 images of the 2 classes the weights were trained on");

        // resumed at another side: it trains on, and says that its best checkpoint now compares accuracies at two sides
        var resumed = CliRunner.Run("train", "--resume", run, "--epochs", "2", "--image-size", "32", "--threads", "1");
        Assert.True(resumed.Code == 0, resumed.Err + resumed.Out);
        Assert.Contains("parnet train: warning: --image-size 32 with --resume: the run trained and tested at 48 px so far; its epochs from here do at 32, " +
                        "and its best checkpoint is chosen among test accuracies of both sides\n", resumed.Err.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void A_sidecar_model_that_does_not_fit_or_an_optimizer_file_given_as_weights_is_named_for_what_it_is()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run"), fused = dir.File("tiny.safetensors"), image = dir.File("x.png");
        CliRunner.TrainTiny(run);
        var fusedRun = CliRunner.Run("fuse", "--weights", Path.Combine(run, "checkpoints", "last", "model.safetensors"), "--out", fused);
        Assert.True(fusedRun.Code == 0, fusedRun.Err);
        File.WriteAllBytes(image, TempDirectory.EncodeImage(28, 28, (x, y) => ((byte)(x * 9), (byte)(x * 9), (byte)(x * 9)), SKEncodedImageFormat.Png));
        // a plain model configuration named like the weights, kept beside them: it comes before the file's own metadata, and the
        // refusal named only the weights ("its classifier has 1000 classes, the weights' 10")
        string sidecar = dir.File("tiny.json");
        File.WriteAllText(sidecar, ParNet.Models.ModelRegistry.Get("parnet_s").ToJson());
        var refused = CliRunner.Run("predict", "--weights", fused, image);
        Assert.NotEqual(0, refused.Code);
        Assert.Contains($"; the model is {sidecar}'s, a sidecar beside the weights, which comes before what they store: move it away, or give the model", refused.Err);
        File.Delete(sidecar);
        var predicted = CliRunner.Run("predict", "--weights", fused, image);
        Assert.True(predicted.Code == 0, predicted.Err);

        // the optimizer's file of the same checkpoint, given as weights: a list of every key missing, before
        string optimizer = Path.Combine(run, "checkpoints", "last", "optimizer.safetensors");
        CliRunner.AssertUserError(CliRunner.Run("predict", "--weights", optimizer, image),
            $"{optimizer}: the optimizer's state of a training checkpoint (SGD momentum), not weights: give the model.safetensors beside it");
        CliRunner.AssertUserError(CliRunner.Run("train", "--recipe", "finetune", "--pretrained", optimizer, "--subset", "1", "--epochs", "1", "--out", dir.File("ft")),
            $"{optimizer}: the optimizer's state of a training checkpoint (SGD momentum), not pretrained weights: give the model.safetensors beside it");
    }
}
