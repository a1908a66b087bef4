using ParNet.Data;
using ParNet.Models;
using ParNet.Training;
using SkiaSharp;

namespace ParNet.Tests.Training;

/// <summary>
/// A corrupt image met in training or in the evaluation after an epoch stops the run with the decoder's message, as
/// before, but what was trained is saved as a resumable checkpoint first: it was lost (the epoch so far, and in the first
/// epoch the whole run), while an interruption at the same point keeps it.
/// </summary>
public class UnreadableImageStopTests
{
    /// <summary>ROOT/a and ROOT/b with 6 small PNGs each, and ROOT/b/z-broken.png (not an image) when asked: last in file order.</summary>
    static string ClassFolders(string root, bool broken)
    {
        foreach (var (label, shade) in new[] { ("a", 40), ("b", 200) })
        {
            Directory.CreateDirectory(Path.Combine(root, label));
            for (int i = 0; i < 6; i++)
                File.WriteAllBytes(Path.Combine(root, label, $"{i}.png"), Data.TempDirectory.EncodeImage(16, 16,
                    (x, y) => ((byte)(shade + x), (byte)(shade - y), (byte)(i * 9)), SKEncodedImageFormat.Png));
        }
        if (broken) File.WriteAllBytes(Path.Combine(root, "b", "z-broken.png"), [1, 2, 3, 4]);
        return Path.Combine(root, "b", "z-broken.png");
    }

    // 16 px, not 8: the last batch of the 13 files holds one image, which on the tiny network's 1x1 maps at 8 px would give
    // its BatchNorms a single value (refused since session 38); at 16 px its last maps are 2x2
    static DataLoader Loader(string root, int batch = 4) =>
        new(new ImageFolderDataset(root), new CenterCrop(16), new LoaderOptions { BatchSize = batch, Workers = 2, Shuffle = false });

    static TrainOptions Options(string runDirectory, LoadedCheckpoint? resumeFrom = null, int epochs = 2, int batch = 4, IProgress<TrainEvent>? progress = null) => new()
    {
        Recipe = new Recipe { Name = "test", Epochs = epochs, BatchSize = batch, Lr = 0.05, Momentum = 0.9, Schedule = ScheduleKind.Cosine, WarmupEpochs = 0, Seed = 3 },
        RunDirectory = runDirectory, ResumeFrom = resumeFrom, Progress = progress,
    };

    [Fact]
    public void The_steps_before_a_corrupt_training_image_are_saved_and_named_in_the_error()
    {
        using var dir = new TempDir();
        string broken = ClassFolders(Path.Combine(dir.Path, "train"), broken: true);   // 13 files: the broken one in the 4th batch of 4
        Trainer.Seed(0);
        using var model = ModelFactory.Create(TinyModels.Config(classes: 2, inChannels: 3));
        using var trainer = new Trainer(model, Loader(Path.Combine(dir.Path, "train")), null, Options(Path.Combine(dir.Path, "run")));

        var e = Assert.Throws<UnreadableDataException>(() => trainer.Run());   // the decoder's InvalidDataException inside
        Assert.IsType<InvalidDataException>(e.InnerException);
        Assert.StartsWith(broken + ": not a decodable image", e.Message);
        Assert.Contains($"training stopped in epoch 1 before batch 4, its steps before it saved in {Path.GetFullPath(trainer.LastPath)}", e.Message);
        using var saved = Checkpoint.Load(trainer.LastPath);
        Assert.Equal((0, 3, 3L, false), (saved.State.Epoch, saved.State.BatchInEpoch, saved.State.GlobalStep, saved.State.Finished));
        Assert.Equal(12, saved.State.PartialSeen);
        foreach (var (key, value) in model.state_dict())   // the weights after the 3 steps
            Assert.True(value.allclose(saved.Weights[key], rtol: 0, atol: 0), key);
    }

    [Fact]
    public void An_epoch_whose_evaluation_meets_a_corrupt_image_is_saved_and_a_resume_evaluates_it_without_training_it_again()
    {
        using var dir = new TempDir();
        ClassFolders(Path.Combine(dir.Path, "train"), broken: false);
        string broken = ClassFolders(Path.Combine(dir.Path, "val"), broken: true);
        string run = Path.Combine(dir.Path, "run");
        Trainer.Seed(0);
        using (var model = ModelFactory.Create(TinyModels.Config(classes: 2, inChannels: 3)))
        using (var trainer = new Trainer(model, Loader(Path.Combine(dir.Path, "train")), Loader(Path.Combine(dir.Path, "val")), Options(run)))
        {
            var e = Assert.Throws<UnreadableDataException>(() => trainer.Run());
            Assert.StartsWith(broken + ": not a decodable image", e.Message);
            Assert.Contains($"the evaluation after epoch 1 stopped, the epoch's training saved in {Path.GetFullPath(trainer.LastPath)}", e.Message);
        }
        File.Delete(broken);
        using var saved = Checkpoint.Load(Path.Combine(run, "checkpoints", "last"));
        Assert.Equal((0, 3, 3L, 12L), (saved.State.Epoch, saved.State.BatchInEpoch, saved.State.GlobalStep, saved.State.PartialSeen));   // 12 images: 3 batches

        using var resumed = ModelFactory.Create(saved.State.Model);
        using var again = new Trainer(resumed, Loader(Path.Combine(dir.Path, "train")), Loader(Path.Combine(dir.Path, "val")), Options(run, saved));
        var result = again.Run();
        Assert.Equal(6, result.State.GlobalStep);   // epoch 1's 3 steps were not trained twice
        Assert.Equal([1, 2], result.State.History.Select(h => h.Epoch));
        Assert.NotNull(result.State.History[0].TestAccuracy);
    }

    /// <summary>The last epoch's evaluation failed on 13 training images in batches of 4 (the 4th holds one): resumed at batch 2,
    /// its 4 saved batches were counted as 16 images, 8 steps of 2 of an epoch of 7, and refused as "the data set has changed";
    /// at batch 4 the run ended saying "the schedule budget ( min) ended the LR schedule" of a run without one (a defect hunt
    /// of session 44). Both evaluate the epoch and train nothing more.</summary>
    [Theory]
    [InlineData(4)]
    [InlineData(2)]
    public void The_last_epochs_failed_evaluation_resumes_under_another_batch_evaluating_it_alone(int batch)
    {
        using var dir = new TempDir();
        string train = Path.Combine(dir.Path, "train"), run = Path.Combine(dir.Path, "run");
        ClassFolders(train, broken: false);
        File.Copy(Path.Combine(train, "a", "0.png"), Path.Combine(train, "a", "6.png"));   // 13 images
        string broken = ClassFolders(Path.Combine(dir.Path, "val"), broken: true);
        Trainer.Seed(0);
        using (var model = ModelFactory.Create(TinyModels.Config(classes: 2, inChannels: 3)))
        using (var trainer = new Trainer(model, Loader(train), Loader(Path.Combine(dir.Path, "val")), Options(run, epochs: 1)))
            Assert.Throws<UnreadableDataException>(() => trainer.Run());
        File.Delete(broken);

        using var saved = Checkpoint.Load(Path.Combine(run, "checkpoints", "last"));
        Assert.Equal((0, 4, 4L, 13L, true), (saved.State.Epoch, saved.State.BatchInEpoch, saved.State.GlobalStep, saved.State.PartialSeen, saved.State.EvaluationPending));
        var events = new List<TrainEvent>();
        using var resumed = ModelFactory.Create(saved.State.Model);
        using var again = new Trainer(resumed, Loader(train, batch), Loader(Path.Combine(dir.Path, "val")),
                                      Options(run, saved, epochs: 1, batch: batch, progress: new InlineProgress(events.Add)));
        var result = again.Run();
        Assert.Equal(StopReason.Completed, result.Reason);
        Assert.False(result.ScheduleBudgetEnded);
        Assert.Equal(4, result.State.GlobalStep);   // nothing trained again
        Assert.Equal(saved.State.PartialCorrect / 13.0, Assert.Single(result.State.History).TrainAccuracy);   // the epoch's own 13 images
        Assert.NotNull(result.State.History[0].TestAccuracy);
        Assert.False(result.State.EvaluationPending);
        Assert.Contains(events.OfType<MessageEvent>(), m => m.Text == "resuming at the end of epoch 1, step 4: its training was saved, its evaluation comes now");
    }

    [Fact]
    public void A_resume_on_fewer_training_images_than_the_run_stopped_with_is_refused_in_words()
    {
        using var dir = new TempDir();
        string train = Path.Combine(dir.Path, "train"), broken = ClassFolders(train, broken: true);
        string run = Path.Combine(dir.Path, "run");
        Trainer.Seed(0);
        using (var model = ModelFactory.Create(TinyModels.Config(classes: 2, inChannels: 3)))
        using (var trainer = new Trainer(model, Loader(train), null, Options(run)))
            Assert.Throws<UnreadableDataException>(() => trainer.Run());   // stopped before batch 4 of 4, 3 saved
        File.Delete(broken);
        foreach (var file in Directory.GetFiles(Path.Combine(train, "b"))) File.Delete(file);
        Directory.CreateDirectory(Path.Combine(train, "b"));
        File.Copy(Path.Combine(train, "a", "0.png"), Path.Combine(train, "b", "0.png"));   // 7 images now: 2 batches an epoch

        using var saved = Checkpoint.Load(Path.Combine(run, "checkpoints", "last"));
        using var resumed = ModelFactory.Create(saved.State.Model);
        using var again = new Trainer(resumed, Loader(train), null, Options(run, saved));
        var e = Assert.Throws<InvalidDataException>(() => again.Run());   // was ArgumentOutOfRangeException from the loader
        Assert.Equal("the run stopped after batch 3 of epoch 1, but its training data now makes 2 batches an epoch: the data set " +
                     "has changed since (its files, or the subset or classes chosen of it); restore it, or start a new run", e.Message);
    }
}
