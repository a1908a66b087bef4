using ParNet.Tests.Data;
using ParNet.Tests.Export;
using SkiaSharp;

namespace ParNet.Tests.Cli;

/// <summary>
/// `parnet eval --weights W --dataset folder`: weights that carry their class names (a run's checkpoint, a sidecar, an
/// exported model) are refused on an image folder whose classes differ, even in equal number; otherwise its labels,
/// taken in folder-name order, would be scored against the model's other classes and the accuracy silently be wrong.
/// Also its count options below one, met on the same folder-data walk.
/// </summary>
public class EvalStoredClassesTests
{
    /// <summary>DIR/val/NAME/0.png, 1.png for each name, and weights W.safetensors whose sidecar names classes cat, dog.</summary>
    static string WeightsNamingCatAndDog(TempDirectory dir, params string[] valClasses) => WeightsNaming(dir, ["cat", "dog"], valClasses);

    /// <summary>As <see cref="WeightsNamingCatAndDog"/>, the sidecar naming <paramref name="stored"/>.</summary>
    static string WeightsNaming(TempDirectory dir, string[] stored, params string[] valClasses)
    {
        foreach (var name in valClasses)
        {
            Directory.CreateDirectory(dir.File(Path.Combine("data", "val", name)));
            for (int i = 0; i < 2; i++)
                File.WriteAllBytes(dir.File(Path.Combine("data", "val", name, $"{i}.png")),
                    TempDirectory.EncodeImage(32, 32, (x, y) => ((byte)(x * 8), (byte)(y * 8), (byte)(i * 99)), SKEncodedImageFormat.Png));
        }
        return ExportTestSupport.FolderRunWeights(dir.File("w.safetensors"), stored);
    }

    /// <summary>Weights trained on some of Fashion-MNIST's classes (--classes 5-9) store their names; predict, serve and
    /// export used them, while eval --weights of the checkpoint or of its ONNX export stopped at "the test data has 10
    /// classes, the model 5" (walk of session 34). Both now score the five classes the names give.</summary>
    [Fact]
    public void Weights_trained_on_some_classes_are_scored_on_those_classes_as_stored()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        CliRunner.TrainTiny(run, "--classes", "5-9");
        string weights = Path.Combine(run, "checkpoints", "last", "model.safetensors"), onnx = dir.File("m.onnx");
        Assert.True(CliRunner.Run("export", "--weights", weights, "--out", onnx).Code == 0);
        foreach (var (file, report) in new[] { (weights, "a"), (onnx, "b") })
        {
            var (code, stdout, stderr) = CliRunner.Run("eval", "--weights", file, "--subset", "2", "--out", dir.File(report));
            Assert.True(code == 0, file + ": " + stderr);
            Assert.Contains("on fashion-mnist test (10 images, 1x32x32", stdout);   // 2 of each of the 5 classes
            Assert.Equal("true\\predicted,Sandal,Shirt,Sneaker,Bag,Ankle boot", File.ReadLines(Path.Combine(dir.File(report), "confusion.csv")).First());
        }
    }

    [Fact]
    public void A_folder_whose_classes_are_named_otherwise_is_refused_naming_the_difference()
    {
        using var dir = new TempDirectory();
        string weights = WeightsNamingCatAndDog(dir, "Dog", "cat");   // ordinal order: Dog (label 0), cat (label 1)
        CliRunner.AssertUserError(
            CliRunner.Run("eval", "--weights", weights, "--dataset", "folder", "--data", dir.File("data"), "--out", dir.File("report")),
            "class lists differ (2 trained, 2 evaluated): the test data has 1 class not in the classes stored with the weights: Dog; " +
            "the test data lacks 1 class of the classes stored with the weights: dog; Dog looks like a name of the classes stored with the weights " +
            "written with other letter case or accents encoded otherwise (Unicode composed or decomposed): rename the folder to match");
    }

    /// <summary>A model named on the command line (--model, or the authors' YAML) takes the classes of the split eval reads:
    /// it counted DIR/train's, listing every training image, and a download holding only val/ was refused with
    /// "DIR/train: image folder not found" (sizes audit, session 38).</summary>
    [Fact]
    public void A_named_model_takes_its_classes_from_the_split_it_reads_so_a_folder_of_val_alone_is_evaluated()
    {
        using var dir = new TempDirectory();
        WeightsNamingCatAndDog(dir, "cat", "dog");
        string weights = dir.File("plain.safetensors");
        using (var model = ParNet.Models.ModelFactory.Create(ParNet.Models.ModelRegistry.Get("parnet_cifar_small") with { NumClasses = 2 }))
            ParNet.Weights.StateDict.Save(model, weights);   // no sidecar: the model is the one named
        Assert.False(Directory.Exists(dir.File(Path.Combine("data", "train"))));
        var (code, stdout, stderr) = CliRunner.Run("eval", "--weights", weights, "--model", "parnet_cifar_small", "--dataset", "folder",
                                                   "--data", dir.File("data"), "--out", dir.File("report"));
        Assert.True(code == 0, stderr);
        Assert.Contains($"on folder {dir.File("data")} (2 classes) test (4 images, 3x32x32", stdout);
    }

    [Fact]
    public void A_folder_with_the_stored_classes_is_scored_under_their_names()
    {
        using var dir = new TempDirectory();
        string weights = WeightsNamingCatAndDog(dir, "cat", "dog");
        var (code, stdout, stderr) = CliRunner.Run("eval", "--weights", weights, "--dataset", "folder", "--data", dir.File("data"), "--out", dir.File("report"));
        Assert.True(code == 0, stderr);
        Assert.Contains($"on folder {dir.File("data")} (2 classes) test (4 images, 3x32x32", stdout);
    }

    [Fact]
    public void Weights_that_store_only_placeholder_names_are_scored_on_any_folder()
    {
        // what fuse, convert and export store for weights that had no names (PyTorch-trained ones, the library's own saves)
        using var dir = new TempDirectory();
        string weights = WeightsNaming(dir, ["class 0", "class 1"], "cat", "dog");
        var (code, stdout, stderr) = CliRunner.Run("eval", "--weights", weights, "--dataset", "folder", "--data", dir.File("data"), "--out", dir.File("report"));
        Assert.True(code == 0, stderr);
        Assert.Contains($"on folder {dir.File("data")} (2 classes) test (4 images, 3x32x32", stdout);
    }

    [Theory]
    [InlineData("--subset", "0", "--subset 0: must be >= 1 (images per class)")]   // crashed writing a NaN accuracy to summary.json
    [InlineData("--threads", "0", "--threads 0: must be >= 1")]                    // libtorch aborted the process
    [InlineData("--batch-size", "0", "--batch-size 0: must be >= 1 (images)")]     // the loader's "batch size must be positive", no option named
    public void Counts_below_one_are_refused_in_one_line(string option, string value, string message)
    {
        using var dir = new TempDirectory();
        string weights = WeightsNamingCatAndDog(dir, "cat", "dog");
        CliRunner.AssertUserError(CliRunner.Run("eval", "--weights", weights, "--dataset", "folder", "--data", dir.File("data"),
                                                option, value, "--out", dir.File("report")), message);
    }

    [Fact]
    public void The_shipped_imagenet_names_are_not_compared_with_an_imagenet_folders_wordnet_ids()
    {
        var ids = Enumerable.Range(0, ParNet.Data.DatasetInfo.ImageNet.ClassNames.Count).Select(i => $"n{i:D8}").ToList();
        ParNet.Data.DataPipelines.RequireStoredClasses(ParNet.Data.DatasetInfo.ImageNet.ClassNames, "imagenet", ids, "the val data");
        Assert.Throws<InvalidDataException>(() =>
            ParNet.Data.DataPipelines.RequireStoredClasses(ids.Select(n => n + "x").ToList(), "imagenet", ids, "the val data"));
    }
}
