using ParNet.Data;
using ParNet.Models;
using ParNet.Training;
using SkiaSharp;

namespace ParNet.Tests.Training;

/// <summary>
/// A corrupt image met during an epoch of an image folder stops the run with the decoder's message, as before, but the
/// steps trained before it are saved as a resumable checkpoint: they were lost (the whole epoch so far, and the run when
/// no epoch had ended), while an interruption at the same point keeps them.
/// </summary>
public class UnreadableImageStopTests
{
    [Fact]
    public void The_steps_before_a_corrupt_image_are_saved_and_named_in_the_error()
    {
        using var dir = new TempDir();
        string images = Path.Combine(dir.Path, "images");
        foreach (var (label, shade) in new[] { ("a", 40), ("b", 200) })
        {
            Directory.CreateDirectory(Path.Combine(images, label));
            for (int i = 0; i < 6; i++)
                File.WriteAllBytes(Path.Combine(images, label, $"{i}.png"), Data.TempDirectory.EncodeImage(8, 8,
                    (x, y) => ((byte)(shade + x), (byte)(shade - y), (byte)(i * 9)), SKEncodedImageFormat.Png));
        }
        File.WriteAllBytes(Path.Combine(images, "b", "z-broken.png"), [1, 2, 3, 4]);   // last in file order: the 4th batch of 4
        var data = new DataLoader(new ImageFolderDataset(images), new CenterCrop(8), new LoaderOptions { BatchSize = 4, Workers = 2, Shuffle = false });
        Trainer.Seed(0);
        using var model = ModelFactory.Create(TinyModels.Config(classes: 2, inChannels: 3));
        var recipe = new Recipe { Name = "test", Epochs = 2, BatchSize = 4, Lr = 0.05, Momentum = 0.9, Schedule = ScheduleKind.Cosine, WarmupEpochs = 0, Seed = 3 };
        using var trainer = new Trainer(model, data, null, new TrainOptions { Recipe = recipe, RunDirectory = Path.Combine(dir.Path, "run") });

        var e = Assert.Throws<InvalidDataException>(() => trainer.Run());
        Assert.StartsWith(Path.Combine(images, "b", "z-broken.png") + ": not a decodable image", e.Message);
        Assert.Contains($"training stopped in epoch 1 before batch 4, its steps before it saved in {Path.GetFullPath(trainer.LastPath)}", e.Message);
        using var saved = Checkpoint.Load(trainer.LastPath);
        Assert.Equal((0, 3, 3L, false), (saved.State.Epoch, saved.State.BatchInEpoch, saved.State.GlobalStep, saved.State.Finished));
        Assert.Equal(12, saved.State.PartialSeen);
        foreach (var (key, value) in model.state_dict())   // the weights after the 3 steps
            Assert.True(value.allclose(saved.Weights[key], rtol: 0, atol: 0), key);
    }
}
