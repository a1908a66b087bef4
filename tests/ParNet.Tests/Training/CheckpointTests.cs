using ParNet.Models;
using ParNet.Training;
using static TorchSharp.torch;

namespace ParNet.Tests.Training;

/// <summary>A checkpoint is complete or refused; what a killed writer leaves behind is cleaned up.</summary>
public class CheckpointTests
{
    static string SaveTiny(string root, double emaDecay = 0, double trainLoss = 1.5, ModelConfig? modelConfig = null)
    {
        var config = modelConfig ?? TinyModels.Config();
        using var model = new ParNetModel(config);
        using var optimizer = new Sgd(model.named_parameters(), momentum: 0.9, nesterov: false, weightDecay: 1e-4, noDecayBnBias: true);
        var ema = emaDecay > 0 ? new ModelEma(model, emaDecay) : null;
        var state = new TrainingState
        {
            Recipe = Recipes.FashionMnist with { EmaDecay = emaDecay },
            Model = config,
            History = [new EpochMetrics { Epoch = 1, TrainLoss = trainLoss }],
        };
        string dir = Path.Combine(root, "checkpoints", "last");
        Checkpoint.Save(dir, model, optimizer, ema, state);
        return dir;
    }

    [Fact]
    public void A_missing_optimizer_file_is_refused_naming_it()
    {
        using var root = new TempDir();
        string dir = SaveTiny(root.Path);
        File.Delete(Path.Combine(dir, Checkpoint.OptimizerFile));
        Assert.Null(Checkpoint.Locate(dir));
        var e = Assert.Throws<FileNotFoundException>(() => Checkpoint.Load(dir));
        Assert.Contains(Checkpoint.OptimizerFile, e.Message);
    }

    [Fact]
    public void A_missing_ema_file_is_refused_when_the_recipe_averages_weights()
    {
        using var root = new TempDir();
        string dir = SaveTiny(root.Path, emaDecay: 0.99);
        using (var complete = Checkpoint.Load(dir)) Assert.NotNull(complete.Ema);
        File.Delete(Path.Combine(dir, Checkpoint.EmaFile));
        var e = Assert.Throws<FileNotFoundException>(() => Checkpoint.Load(dir));
        Assert.Contains(Checkpoint.EmaFile, e.Message);
    }

    [Fact]
    public void An_incomplete_checkpoint_falls_back_to_the_complete_previous_one()
    {
        using var root = new TempDir();
        string dir = SaveTiny(root.Path);
        Directory.Move(dir, dir + ".old");
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(dir + ".old", Checkpoint.StateFile), Path.Combine(dir, Checkpoint.StateFile));
        Assert.Equal(dir + ".old", Checkpoint.Locate(dir));
    }

    [Fact]
    public void A_truncated_state_file_is_invalid_data_naming_the_file()
    {
        using var root = new TempDir();
        string dir = SaveTiny(root.Path);
        string state = Path.Combine(dir, Checkpoint.StateFile);
        File.WriteAllText(state, File.ReadAllText(state)[..40]);
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.ReadState(dir));
        Assert.Contains(state, e.Message);
    }

    [Fact]
    public void A_killed_writers_temporary_folder_is_removed_and_a_running_ones_kept()
    {
        using var root = new TempDir();
        string dir = SaveTiny(root.Path);
        string dead = dir + ".tmp-" + DeadPid(), running = dir + ".tmp-1";   // PID 1 always runs
        Directory.CreateDirectory(dead);
        Directory.CreateDirectory(running);
        SaveTiny(root.Path);
        Assert.False(Directory.Exists(dead));
        Assert.True(Directory.Exists(running));
    }

    [Fact]
    public void A_killed_writer_of_the_best_checkpoint_leaves_no_folder_once_the_last_one_is_saved()
    {
        // a kill while "best" was written left best.tmp-PID, a whole checkpoint's size, until the next best epoch, which may never
        // come: a finished run kept it for good (walk I, a 195 MB folder)
        using var root = new TempDir();
        string best = Path.Combine(root.Path, "checkpoints", Checkpoint.Best);
        string dead = best + ".tmp-" + DeadPid(), running = best + ".tmp-1";   // PID 1 always runs
        Directory.CreateDirectory(dead);
        Directory.CreateDirectory(running);
        SaveTiny(root.Path);   // the last checkpoint
        Assert.False(Directory.Exists(dead));
        Assert.True(Directory.Exists(running));
    }

    [Fact]
    public void A_save_after_a_kill_between_the_renames_keeps_the_only_checkpoint_until_the_new_one_is_in_place()
    {
        // the kill left NAME.old alone; the next save deleted it before its own checkpoint was in place, and a second kill in
        // that deletion left no complete checkpoint at all
        using var root = new TempDir();
        string dir = SaveTiny(root.Path, trainLoss: 1);
        Directory.Move(dir, dir + ".old");
        try
        {
            // killed in the middle of deleting the folder: its state file gone, its weights still there
            Checkpoint.BeforeFolderDeleted = folder => { File.Delete(Path.Combine(folder, Checkpoint.StateFile)); throw new IOException("simulated crash"); };
            Assert.Throws<IOException>(() => SaveTiny(root.Path, trainLoss: 2));
        }
        finally { Checkpoint.BeforeFolderDeleted = null; }
        Assert.Equal(dir, Checkpoint.Locate(dir));
        Assert.Equal(2, Checkpoint.ReadState(dir).History[0].TrainLoss);
    }

    [Fact]
    public void A_failed_save_names_the_checkpoints_file_not_the_deleted_temporary_folder()
    {
        // a full disk said "No space left on device : 'RUN/checkpoints/best.tmp-21969/optimizer.safetensors'", a folder it had deleted
        using var root = new TempDir();
        string dir = Path.Combine(root.Path, "checkpoints", "last");
        try
        {
            Checkpoint.AfterFileWritten = path => { if (Path.GetFileName(path) == Checkpoint.OptimizerFile) throw new IOException($"No space left on device : '{path}'"); };
            var e = Assert.Throws<IOException>(() => SaveTiny(root.Path));
            Assert.Equal($"No space left on device : '{Path.Combine(dir, Checkpoint.OptimizerFile)}'", e.Message);
        }
        finally { Checkpoint.AfterFileWritten = null; }
    }

    [Fact]
    public void An_infinite_metric_does_not_make_the_checkpoint_unwritable()
    {
        using var root = new TempDir();
        string dir = SaveTiny(root.Path, trainLoss: double.PositiveInfinity);
        Assert.Equal(double.PositiveInfinity, Checkpoint.ReadState(dir).History[0].TrainLoss);
    }

    /// <summary>The PID of a process that has exited (a child started and waited for).</summary>
    static int DeadPid()
    {
        using var p = System.Diagnostics.Process.Start("true")!;
        p.WaitForExit();
        return p.Id;
    }

    [Fact]
    public void A_checkpoint_left_as_NAME_old_by_a_kill_between_the_renames_loads_from_its_file_path_as_a_resume_finds_it()
    {
        // a save killed between its two renames leaves RUN/checkpoints/last.old alone: a resume and `eval --run` read it, a
        // loader given RUN/checkpoints/last/model.safetensors said "weights file not found" until the next save
        using var root = new TempDir();
        var config = TinyModels.Config(classes: 10);   // Fashion-MNIST's, the recipe's data set
        string dir = SaveTiny(root.Path, emaDecay: 0.9, modelConfig: config);
        Directory.Move(dir, dir + ".old");
        string given = Path.Combine(dir, Checkpoint.WeightsFile), old = Path.Combine(dir + ".old", Checkpoint.WeightsFile);
        Assert.Equal(old, Checkpoint.PathToRead(given));
        Assert.Equal(old, Checkpoint.RequireWeightsFile(given));
        Assert.Equal(config.ToJson(), ParNet.Export.ClassifierLoader.Stored(given).Model!.ToJson());   // its state.json's model
        Assert.Equal(Path.Combine(dir + ".old", Checkpoint.EmaFile), Checkpoint.EmaBeside(given));
        foreach (var (pick, file) in new[] { (ParNet.Weights.CheckpointWeights.Model, old), (ParNet.Weights.CheckpointWeights.Ema, Path.Combine(dir + ".old", Checkpoint.EmaFile)) })
        {
            using var loaded = ParNet.Export.ClassifierLoader.LoadWeights(given, null, ParNet.Export.NetworkForm.AsStored, pick).Model;
            var expected = ParNet.Weights.StateDict.Read(file);
            foreach (var (key, value) in loaded.state_dict())
                Assert.True(value.to(ScalarType.Float32).eq(expected[key].to(ScalarType.Float32)).all().item<bool>(), $"{pick}: {key}");
        }
        using (var model = new ParNetModel(config))
            Assert.True(Pretrained.LoadBackbone(model, given).LoadedTensors > 0);
        // the folder given as weights (a user's slip: `eval --weights RUN/checkpoints/last`) is named where its files are
        Assert.Equal(dir + ".old", Checkpoint.PathToRead(dir));
        var folder = Assert.Throws<FileNotFoundException>(() => Checkpoint.RequireWeightsFile(dir));
        Assert.Equal($"weights: {dir}.old is a folder, not a file (it holds ema.safetensors, model.safetensors: give one of those)", folder.Message);
        // a missing file of any other folder is still not found, by the name given
        string elsewhere = Path.Combine(root.Path, "other", Checkpoint.WeightsFile);
        Assert.Equal(elsewhere, Checkpoint.PathToRead(elsewhere));
        var e = Assert.Throws<FileNotFoundException>(() => Checkpoint.RequireWeightsFile(elsewhere));
        Assert.Equal($"weights file not found: {elsewhere}", e.Message);
        // a link to the checkpoint's file (e.g. a deployment's "current" model) is read in NAME.old too, the link left as given
        string link = Path.Combine(root.Path, "current.safetensors");
        File.CreateSymbolicLink(link, given);
        Assert.Equal(old, Checkpoint.PathToRead(link));
        Assert.Equal(old, Checkpoint.RequireWeightsFile(link));
    }
}
