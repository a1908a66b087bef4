namespace ParNet.Tests.Cli;

/// <summary>The library's data pipelines refuse bad data options with ArgumentException; the CLI reports them as user errors.</summary>
public class DataErrorTests
{
    [Fact]
    public void Train_with_an_unknown_dataset_is_one_line_exit_2()
    {
        using var folder = new ParNet.Tests.Data.TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("train", "--dataset", "imagenet-22k", "--out", folder.File("run")),
                                  "parnet train: unknown data set 'imagenet-22k'; known: fashion-mnist, cifar10, cifar100, folder, imagenet");
        Assert.False(Directory.Exists(folder.File("run")));
    }

    [Fact]
    public void Train_on_a_folder_data_set_without_a_folder_is_one_line_exit_2()
    {
        using var folder = new ParNet.Tests.Data.TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("train", "--dataset", "folder", "--out", folder.File("run")),
                                  "parnet train: the folder data set needs a data directory (--data DIR: DIR/train and DIR/val of class folders)");
        Assert.False(Directory.Exists(folder.File("run")));
    }

    [Fact]
    public void The_imagenet_recipes_data_set_is_a_folder_in_imagenets_layout_and_without_one_says_how_to_give_it()
    {
        using var folder = new ParNet.Tests.Data.TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("train", "--recipe", "imagenet", "--out", folder.File("run")),
                                  "the imagenet data set needs a data directory (--data DIR: DIR/train and DIR/val of class folders)");
        foreach (var (split, name) in new[] { ("train", "goldfish"), ("train", "tench"), ("val", "goldfish"), ("val", "tench") })
        {
            Directory.CreateDirectory(folder.File(Path.Combine(split, name)));
            File.WriteAllBytes(folder.File(Path.Combine(split, name, "a.png")),
                               ParNet.Tests.Data.TempDirectory.EncodeImage(40, 40, (x, y) => ((byte)x, (byte)y, 9), SkiaSharp.SKEncodedImageFormat.Png));
        }
        Assert.Equal(2, ParNet.Data.DataPipelines.NumClasses("imagenet", folder.Path));
        var model = ParNet.Models.ModelRegistry.Get("parnet_cifar_small");
        var val = ParNet.Data.DataPipelines.Eval("imagenet", folder.Path, model, new ParNet.Data.AugmentationSettings { ImageSize = 32 },
                                                 new ParNet.Data.LoaderOptions(), split: "val");
        Assert.Equal(2, val.Count);
        Assert.Equal(["goldfish", "tench"], val.ClassNames);
    }

    [Fact]
    public void Eval_refuses_a_val_split_where_the_data_set_has_none_instead_of_scoring_the_test_split_under_that_name()
    {
        var model = ParNet.Models.ModelRegistry.Get("parnet_cifar_small") with { InChannels = 1 };
        var e = Assert.Throws<ArgumentException>(() => ParNet.Data.DataPipelines.Eval("fashion-mnist", null, model,
            new ParNet.Data.AugmentationSettings(), new ParNet.Data.LoaderOptions(), split: "val"));
        Assert.Equal("fashion-mnist has no val split: test or train", e.Message);
    }
}
