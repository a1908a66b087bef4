using ParNet.Data;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Training;

namespace ParNet.Tests.Training;

/// <summary>
/// What a library user can hand the trainer that `parnet train` never does (it builds the model from the data): each was
/// found by using the package from a program of one's own (walk K, session 32) and failed late, deep or not at all.
/// </summary>
public class TrainerRefusalTests
{
    static readonly Recipe Quick = new() { Name = "test", Epochs = 1, BatchSize = 32, Lr = 0.05, Seed = 3 };

    static Trainer Train(ImageClassifier model, IBatchSource data, string directory, Recipe? recipe = null) =>
        new(model, data, null, new TrainOptions { Recipe = recipe ?? Quick, RunDirectory = directory });

    [Fact]
    public void Data_of_more_classes_than_the_classifier_has_is_refused_before_training_with_the_two_ways_out()
    {
        // it trained into libtorch's "Target 9 is out of bounds." and ~25 native stack frames, leaving a TensorBoard file
        using var dir = new TempDir();
        using var model = ModelFactory.Create(TinyModels.Config(classes: 3));
        var data = SyntheticSource.Patterns(64, 4, 8, 32);
        var e = Assert.Throws<ArgumentException>(() => Train(model, data, dir.Path));
        Assert.Equal("the training data has 4 classes, tiny's classifier 3: ResetClassifier(4) on the model, or LoaderOptions.Classes to keep 3 of them", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));   // nothing written
        var test = Assert.Throws<ArgumentException>(() => new Trainer(model, SyntheticSource.Patterns(64, 3, 8, 32), data,
            new TrainOptions { Recipe = Quick, RunDirectory = dir.Path }));
        Assert.StartsWith("the evaluation data has 4 classes, tiny's classifier 3", test.Message);
        // fewer classes than outputs is a model that can still learn them: accepted
        using var wider = ModelFactory.Create(TinyModels.Config(classes: 5));
        using var trainer = Train(wider, data, dir.Path);
        Assert.Equal(StopReason.Completed, trainer.Run().Reason);
    }

    [Fact]
    public void Images_of_other_channels_and_an_empty_training_set_are_refused_before_training()
    {
        using var dir = new TempDir();
        using var model = ModelFactory.Create(TinyModels.Config());
        var rgb = SyntheticSource.Patterns(64, 4, 8, 32, channels: 3);
        Assert.Equal("the training data has 3-channel images, tiny takes 1", Assert.Throws<ArgumentException>(() => Train(model, rgb, dir.Path)).Message);
        // no images "completed" an epoch with loss 0 and wrote checkpoints, plots and TensorBoard files
        var none = new SyntheticSource([], [], (1, 8, 8), 32, 4);
        Assert.Equal("the training data holds no images", Assert.Throws<ArgumentException>(() => Train(model, none, dir.Path)).Message);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void A_subset_of_no_images_is_refused_where_it_is_made()
    {
        foreach (var make in new Func<Subset>[] { () => Subset.PerClass(0), () => Subset.First(-5), () => Subset.Random(0, seed: 1) })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(make);
            Assert.Equal("count", e.ParamName);
            Assert.StartsWith("a subset takes at least one image", e.Message);
        }
    }

    [Fact]
    public void A_disposed_model_and_a_batch_size_the_loader_does_not_give_are_refused_by_name()
    {
        using var dir = new TempDir();
        var data = SyntheticSource.Patterns(64, 4, 8, 32);
        var disposed = ModelFactory.Create(TinyModels.Config());
        disposed.Dispose();
        Assert.Equal("tiny was disposed: its weights are freed, so it cannot be trained",
                     Assert.Throws<ObjectDisposedException>(() => Train(disposed, data, dir.Path)).Message);
        using var model = ModelFactory.Create(TinyModels.Config());
        Assert.Equal("the training data gives batches of 32, the recipe says 64: build the loader with LoaderOptions.BatchSize = 64, " +
                     "or the recipe with BatchSize = 32",
                     Assert.Throws<ArgumentException>(() => Train(model, data, dir.Path, Quick with { BatchSize = 64 })).Message);
    }

    [Fact]
    public void A_resume_into_another_configuration_names_the_fields_that_differ_and_a_run_folder_is_not_a_checkpoint()
    {
        using var dir = new TempDir();
        var data = SyntheticSource.Patterns(64, 4, 8, 32);
        using (var model = ModelFactory.Create(TinyModels.Config()))
        using (var trainer = Train(model, data, dir.Path))
            trainer.Run();
        // Checkpoint.Load(run) said "incomplete checkpoint RUN: missing state.json, model.safetensors, optimizer.safetensors"
        var folder = Assert.Throws<FileNotFoundException>(() => Checkpoint.Load(dir.Path));
        Assert.Equal($"{dir.Path} is a training run, not a checkpoint: its last checkpoint is {Checkpoint.In(dir.Path)} (Checkpoint.In(run))", folder.Message);

        using var checkpoint = Checkpoint.Load(Checkpoint.In(dir.Path));
        using var wider = ModelFactory.Create(TinyModels.Config(width: 8));
        var e = Assert.Throws<InvalidDataException>(() => new Trainer(wider, data, null,
            new TrainOptions { Recipe = Quick with { Epochs = 2 }, RunDirectory = dir.Path, ResumeFrom = checkpoint }));
        Assert.Equal($"{checkpoint.Directory}: the checkpoint was trained with another model configuration (Planes [4,8,16] in the checkpoint, " +
                     "[8,16,32] in the model; FinalWidth 16 in the checkpoint, 32 in the model): build the model from the checkpoint's, " +
                     "ModelFactory.Create(checkpoint.State.Model)", e.Message);
    }

    /// <summary>A batch of one image on the network's 1x1 maps gave its BatchNorms one value per channel: NaN running
    /// statistics, found at the epoch's end and blamed on the LR (sizes audit, session 38). Refused before training, with
    /// a batch size that leaves no such batch; accepted where the maps are larger or the BatchNorms use running statistics.</summary>
    [Fact]
    public void A_batch_of_one_image_on_1x1_maps_is_refused_naming_a_batch_size_that_leaves_none()
    {
        using var dir = new TempDir();
        using var model = ModelFactory.Create(TinyModels.Config());
        int side = model.FeatureInfo.Max(f => f.Stride);   // the last stage's maps are 1x1 at this side
        var e = Assert.Throws<InvalidSettingException>(() => Train(model, SyntheticSource.Patterns(65, 4, side, 32), dir.Path));
        Assert.Equal($"the last batch of each epoch holds one image (65 training images, Recipe.BatchSize = 32), and at {side}x{side} px " +
                     "tiny's last stage has 1x1 maps: its BatchNorms cannot normalize a single value (its variance is 0/0, NaN). " +
                     "Take Recipe.BatchSize = 33", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
        var single = Assert.Throws<InvalidSettingException>(() => new Trainer(model, SyntheticSource.Patterns(8, 4, side, 1), null,
            new TrainOptions { Recipe = Quick with { BatchSize = 1 }, RunDirectory = dir.Path }));
        Assert.StartsWith("every batch holds one image (8 training images, Recipe.BatchSize = 1)", single.Message);
        Assert.EndsWith("Take Recipe.BatchSize = 2", single.Message);
        var seven = Assert.Throws<InvalidSettingException>(() => new Trainer(model, SyntheticSource.Patterns(7, 4, side, 1), null,
            new TrainOptions { Recipe = Quick with { BatchSize = 1 }, RunDirectory = dir.Path }));
        Assert.EndsWith("Take Recipe.BatchSize = 4", seven.Message);   // 7 images: batches of 2 or 3 leave one, 4 leaves 3

        using (var trainer = new Trainer(model, SyntheticSource.Patterns(65, 4, side, 32), null, new TrainOptions
               { Recipe = Quick, RunDirectory = dir.Path, KeepInEvalMode = Pretrained.BatchNorms(model) }))
            Assert.Equal(StopReason.Completed, trainer.Run().Reason);   // frozen statistics: a batch of one is normalized by them
        using var other = new TempDir();
        using (var trainer = Train(model, SyntheticSource.Patterns(65, 4, 2 * side, 32), other.Path))   // 2x2 maps: four values
            Assert.Equal(StopReason.Completed, trainer.Run().Reason);

        // a loader that drops its last incomplete batch (DropLast) leaves no batch of one: 65 images, 2 batches of 32
        var images = new ParNet.Data.InMemoryImageDataset(new byte[65 * side * side], Enumerable.Range(0, 65).Select(i => (byte)(i % 4)).ToArray(),
                                                          1, side, side, ["a", "b", "c", "d"]);
        var dropping = new ParNet.Data.DataLoader(images, new ParNet.Data.Compose(new ParNet.Data.Normalize([0.5f], [0.5f])),
                                                  new ParNet.Data.LoaderOptions { BatchSize = 32, DropLast = true, Workers = 0 });
        using var third = new TempDir();
        using (var trainer = Train(model, dropping, third.Path))
        {
            Assert.Equal(2, trainer.BatchesPerEpoch);   // the schedule's steps: 3 before, as if the dropped image were trained
            Assert.Equal(StopReason.Completed, trainer.Run().Reason);
            Assert.Equal(2, trainer.State.GlobalStep);
        }
        var fewer = new ParNet.Data.DataLoader(images, new ParNet.Data.Compose(new ParNet.Data.Normalize([0.5f], [0.5f])),
                                               new ParNet.Data.LoaderOptions { BatchSize = 66, DropLast = true, Workers = 0 });
        using var fourth = new TempDir();
        var none = Assert.Throws<ArgumentException>(() => Train(model, fewer, fourth.Path, Quick with { BatchSize = 66 }));
        Assert.Equal("the training data makes no batch: 65 images, fewer than a batch of 66, and its loader drops a last incomplete batch " +
                     "(LoaderOptions.DropLast)", none.Message);
    }

    /// <summary>Two trainers in one folder, in two processes (a study run twice into one folder trained every cell twice
    /// over: concurrency audit, session 38): the second is refused, naming the first, before writing anything.</summary>
    [Fact]
    public void A_folder_another_process_trains_in_is_refused_naming_it_before_anything_is_written()
    {
        using var dir = new TempDir();
        using var other = Runtime.FolderLockTests.HeldElsewhere(dir.Path, "pid 77 on node3 since 2026-12-05 23:30:00 UTC");
        using var model = ModelFactory.Create(TinyModels.Config());
        var e = Assert.Throws<FolderInUseException>(() => Train(model, SyntheticSource.Patterns(64, 4, 8, 32), dir.Path));
        Assert.Equal("pid 77 on node3 since 2026-12-05 23:30:00 UTC", e.Holder);
        Assert.Equal([FolderLock.FileName], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
        other.Kill();
    }

    /// <summary>A resume with fewer epochs than the run trained said "the run has already trained its 2 epochs" of a run of
    /// 4 and rewrote its checkpoint with the smaller recipe; a resume of a finished run with nothing to do rewrote its
    /// checkpoint too (concurrency audit, session 38). Now the one is refused and the other leaves the checkpoint as it was.</summary>
    [Fact]
    public void A_resume_with_fewer_epochs_than_trained_is_refused_and_one_with_nothing_to_do_writes_nothing()
    {
        using var dir = new TempDir();
        var data = SyntheticSource.Patterns(64, 4, 8, 32);
        using (var model = ModelFactory.Create(TinyModels.Config()))
        using (var trainer = Train(model, data, dir.Path, Quick with { Epochs = 2 }))
            Assert.Equal(StopReason.Completed, trainer.Run().Reason);
        string state = Path.Combine(Checkpoint.In(dir.Path), "state.json");
        var (bytes, written) = (File.ReadAllBytes(state), File.GetLastWriteTimeUtc(Checkpoint.In(dir.Path)));

        using var resumed = ModelFactory.Create(TinyModels.Config());
        using (var checkpoint = Checkpoint.Load(Checkpoint.In(dir.Path)))
        {
            var e = Assert.Throws<InvalidSettingException>(() => new Trainer(resumed, data, null,
                new TrainOptions { Recipe = Quick with { Epochs = 1 }, RunDirectory = dir.Path, ResumeFrom = checkpoint }));
            Assert.Equal($"{checkpoint.Directory}: the run has trained 2 epochs, more than a recipe of Recipe.Epochs = 1 holds: resume " +
                         "with Recipe.Epochs = 2 to finish it, or more to train further", e.Message);
        }
        Thread.Sleep(20);   // a rewrite would move the folder's time
        using (var checkpoint = Checkpoint.Load(Checkpoint.In(dir.Path)))
        using (var trainer = new Trainer(resumed, data, null, new TrainOptions { Recipe = Quick with { Epochs = 2 }, RunDirectory = dir.Path, ResumeFrom = checkpoint }))
        {
            var result = trainer.Run();
            Assert.Equal((StopReason.Completed, 2, true), (result.Reason, result.State.Epoch, result.State.Finished));
        }
        Assert.Equal(bytes, File.ReadAllBytes(state));
        Assert.Equal(written, File.GetLastWriteTimeUtc(Checkpoint.In(dir.Path)));
    }

    [Fact]
    public void A_null_argument_is_named_as_the_public_parameter()
    {
        using var model = ModelFactory.Create(TinyModels.Config());
        var data = SyntheticSource.Patterns(64, 4, 8, 32);
        Assert.Equal("x", Assert.Throws<ArgumentNullException>(() => model.call(null!)).ParamName);   // a NullReferenceException
        Assert.Equal("features", Assert.Throws<ArgumentNullException>(() => model.forward_head(null!)).ParamName);
        Assert.Equal("pattern", Assert.Throws<ArgumentNullException>(() => ModelRegistry.List(null!)).ParamName);   // was "str"
        Assert.Equal("weights", Assert.Throws<ArgumentNullException>(() => Pretrained.CreateModel(TinyModels.Config(), null!)).ParamName);   // "fileName"
        Assert.Equal("trained", Assert.Throws<ArgumentNullException>(() => ParNet.Fusion.ParNetFuser.Fuse(null!)).ParamName);
        Assert.Equal("info", Assert.Throws<ArgumentNullException>(() => ParNet.Inference.ImagePredictor.ForTorch(model, null!)).ParamName);
        Assert.Equal("options.RunDirectory", Assert.Throws<ArgumentNullException>(() =>
            new Trainer(model, data, null, new TrainOptions { Recipe = Quick, RunDirectory = null! })).ParamName);   // "path1"
    }
}
