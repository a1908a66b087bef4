using SkiaSharp;
using ParNet.Tests.Data;

namespace ParNet.Tests.Cli;

/// <summary>
/// Class ids of an image folder (`--classes`, a run's classes, the class names stored with weights) count in DIR/train's
/// class list, and DIR/val is matched to it by name (an audit of fine-tuning and eval, session 45).
/// </summary>
public class FolderClassIdsTests
{
    /// <summary>DIR/{split}/{class}/ of two 16x16 PNGs a class, for each split and its classes.</summary>
    static string Folder(TempDirectory dir, params (string Split, string[] Classes)[] splits)
    {
        string root = dir.File("data");
        foreach (var (split, classes) in splits)
            foreach (var (cls, k) in classes.Select((c, k) => (c, k)))
            {
                string folder = Path.Combine(root, split, cls);
                Directory.CreateDirectory(folder);
                for (int i = 0; i < 2; i++)
                    File.WriteAllBytes(Path.Combine(folder, $"{i}.png"),
                        TempDirectory.EncodeImage(16, 16, (x, y) => ((byte)(x * 9 * k), (byte)(y * 9 + 40 * i), (byte)(60 * k)), SKEncodedImageFormat.Png));
            }
        return root;
    }

    static (int Code, string Out, string Err) TrainTinyOn(string data, string run, params string[] options) =>
        CliRunner.Run(["train", "--recipe", "cifar", "--dataset", "folder", "--data", data, "--image-size", "32", "--width", "4",
                       "--epochs", "1", "--batch-size", "2", "--threads", "1", .. options, "--out", run]);

    /// <summary>val/ lacking train/'s first class: `--classes 1,2` picked val/'s classes 1 and 2 ("class 2 does not exist
    /// (classes 0..1)"), and so did eval --run; both now train and score "cat one" and "dog two" of each split.</summary>
    [Fact]
    public void Class_ids_name_train_classes_and_val_is_matched_to_them_by_name()
    {
        using var dir = new TempDirectory();
        string data = Folder(dir, ("train", ["bird", "cat one", "dog two"]), ("val", ["cat one", "dog two"])), run = dir.File("run");
        var trained = TrainTinyOn(data, run, "--classes", "1,2");
        Assert.True(trained.Code == 0, trained.Err + trained.Out);

        var evaluated = CliRunner.Run("eval", "--run", run, "--data", data, "--threads", "1", "--out", dir.File("eval"));
        Assert.True(evaluated.Code == 0, evaluated.Err + evaluated.Out);
        Assert.Contains("test (4 images, 3x32x32", evaluated.Out);
        Assert.Equal("true\\predicted,cat one,dog two", File.ReadLines(Path.Combine(dir.File("eval"), "confusion.csv")).First());
    }

    /// <summary>A folder model trained on classes a and c of a, b, c, copied out of its run (the class names stored with it,
    /// no run.json to read): eval --weights said "the test data has 3 classes, the model 2", and int8 calibration drew
    /// from every class; both now take the classes the stored names give in the folder's class list.</summary>
    [Fact]
    public void A_copied_folder_model_of_some_classes_is_scored_and_calibrated_on_its_stored_classes()
    {
        using var dir = new TempDirectory();
        string data = Folder(dir, ("train", ["a", "b", "c"]), ("val", ["a", "b", "c"])), run = dir.File("run");
        var trained = TrainTinyOn(data, run, "--classes", "0,2");
        Assert.True(trained.Code == 0, trained.Err + trained.Out);
        string copy = dir.File(Path.Combine("elsewhere", "w.safetensors"));
        Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
        File.Copy(Path.Combine(run, "checkpoints", "last", "model.safetensors"), copy);

        var evaluated = CliRunner.Run("eval", "--weights", copy, "--dataset", "folder", "--data", data, "--threads", "1", "--out", dir.File("eval"));
        Assert.True(evaluated.Code == 0, evaluated.Err + evaluated.Out);
        Assert.Contains("test (4 images, 3x32x32", evaluated.Out);
        Assert.Equal("true\\predicted,a,c", File.ReadLines(Path.Combine(dir.File("eval"), "confusion.csv")).First());
        // train/a and train/c hold 4 images: a fifth is refused, where all 6 of train/ were drawn from
        CliRunner.AssertUserError(CliRunner.Run("export", "--weights", copy, "--dataset", "folder", "--data", data, "--int8", "--calibration", "5",
                                                "--out", dir.File("m.int8.onnx")),
                                  "5 calibration images asked for: the folder training split has 4 images of the 2 classes the weights were trained on");
    }

    /// <summary>Without --classes the refusal named the class val/ lacks, not what to do about it.</summary>
    [Fact]
    public void A_val_folder_lacking_a_class_is_refused_naming_the_classes_both_splits_hold()
    {
        using var dir = new TempDirectory();
        string data = Folder(dir, ("train", ["bird", "cat one", "dog two"]), ("val", ["cat one", "dog two"]));
        CliRunner.AssertUserError(TrainTinyOn(data, dir.File("run")),
            "the evaluation data lacks 1 class of the training data (folder): bird; train on the classes both hold with --classes 1,2 " +
            $"(ids of {Path.Combine(data, "train")}'s classes), or give {Path.Combine(data, "val")} the class folders of {Path.Combine(data, "train")}");
    }

    /// <summary>A selected class that val/ has no folder of is named, not taken for another class by position.</summary>
    [Fact]
    public void A_selected_class_that_val_lacks_is_named()
    {
        using var dir = new TempDirectory();
        string data = Folder(dir, ("train", ["bird", "cat one", "dog two"]), ("val", ["cat one", "dog two"]));
        CliRunner.AssertUserError(TrainTinyOn(data, dir.File("run"), "--classes", "0,2"),
            $"{Path.Combine(data, "val")} has no folder of class 0 (bird) of {Path.Combine(data, "train")}: leave class 0 out of the selection, " +
            $"or add {Path.Combine(data, "val", "bird")}");
    }
}
