using ParNet.Models;
using ParNet.Training;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Tests.Training;

public class TrainerTests
{
    static Recipe Quick(int epochs, double lr = 0.05) => new()
    {
        Name = "test", Epochs = epochs, BatchSize = 32, Lr = lr, Momentum = 0.9, Nesterov = true, WeightDecay = 1e-4,
        Schedule = ScheduleKind.Cosine, WarmupEpochs = 0, Seed = 3,
    };

    /// <summary>A seeded tiny model and a patterns set, trained one quick epoch in <paramref name="directory"/> (its
    /// checkpoints/last written).</summary>
    static (ImageClassifier Model, SyntheticSource Data) OneEpochRunIn(string directory)
    {
        var data = SyntheticSource.Patterns(64, 4, 8, 32);
        Trainer.Seed(0);
        var model = ModelFactory.Create(TinyModels.Config());
        using (var trainer = new Trainer(model, data, null, new TrainOptions { Recipe = Quick(1), RunDirectory = directory }))
            trainer.Run();
        return (model, data);
    }

    static Dictionary<string, float[]> Snapshot(nn.Module m)
        => m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float32).data<float>().ToArray());

    [Fact]
    public void Tiny_model_overfits_tiny_set_to_100_percent()
    {
        using var dir = new TempDir();
        var data = SyntheticSource.Patterns(64, 4, 8, 32, noise: 0.2);
        Trainer.Seed(0);
        using var model = ModelFactory.Create(TinyModels.Config(width: 8));
        using var trainer = new Trainer(model, data, data, new TrainOptions { Recipe = Quick(30, lr: 0.05) with { WeightDecay = 0 }, RunDirectory = dir.Path, EvalEvery = 30 });
        var result = trainer.Run();
        Assert.Equal(StopReason.Completed, result.Reason);
        var eval = Evaluator.Evaluate(model, data, 4);
        Assert.Equal(1.0, eval.Top1);
        Assert.Equal(1.0, result.State.History[^1].TestAccuracy);
        // the run folder has the logs, plots and both checkpoints
        foreach (var f in new[] { "metrics.csv", "loss.png", "accuracy.png", "lr.png" }) Assert.True(File.Exists(Path.Combine(dir.Path, f)), f);
        Assert.Equal(31, File.ReadAllLines(Path.Combine(dir.Path, "metrics.csv")).Length);
        Assert.NotNull(Checkpoint.Locate(Path.Combine(dir.Path, "checkpoints", "best")));
        var tb = Directory.GetFiles(Path.Combine(dir.Path, "tensorboard")).Single();
        Assert.Contains(TensorBoardWriter.ReadScalars(tb), s => s.Tag == "epoch/test_acc" && s.Step == 30 && s.Value == 1f);
    }

    /// <summary>A Trainer used without TrainingRun wrote weights files that named no model: one copied out of its run loaded
    /// nowhere without its configuration (a library audit of session 47). They say what the trainer knows.</summary>
    [Fact]
    public void A_trainers_own_checkpoints_name_their_model_classes_and_side()
    {
        using var dir = new TempDir();
        var (model, data) = OneEpochRunIn(dir.Path);
        using (model)
        {
            var stored = ParNet.Export.DeploymentInfo.ForWeights(Path.Combine(dir.Path, "checkpoints", "last", "model.safetensors"));
            Assert.Equal(model.Config.ToJson(), stored.Model!.ToJson());
            Assert.Equal(data.ClassNames, stored.ClassNames);
            Assert.Equal(data.ImageShape.Height, stored.ImageSize);
            Assert.False(stored.Fused);
        }
    }

    [Fact]
    public void Checkpoint_round_trip_restores_weights_optimizer_and_state()
    {
        using var dir = new TempDir();
        var data = SyntheticSource.Patterns(64, 4, 8, 32);
        Trainer.Seed(1);
        using var model = ModelFactory.Create(TinyModels.Config());
        using var trainer = new Trainer(model, data, null, new TrainOptions { Recipe = Quick(1) with { EmaDecay = 0.9 }, RunDirectory = dir.Path });
        trainer.Run();
        var saved = Snapshot(model);
        var momentum = trainer.Optimizer.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());

        using var ckpt = Checkpoint.Load(trainer.LastPath);
        Assert.Equal(1, ckpt.State.Epoch);
        Assert.Equal(2, ckpt.State.GlobalStep);
        Assert.True(ckpt.State.Finished);
        Assert.Equal(model.Config.ToJson(), ckpt.State.Model.ToJson());
        Assert.Equal(0.9, ckpt.State.Recipe.EmaDecay);
        Assert.NotNull(ckpt.Ema);
        Assert.NotNull(ckpt.State.TorchRngState);
        using var copy = ModelFactory.Create(ckpt.State.Model);
        StateDict.Load(copy, ckpt.Weights);
        foreach (var (k, v) in Snapshot(copy)) Assert.Equal(saved[k], v);
        using var sgd = new Sgd(copy.named_parameters(), 0.9, true, 1e-4, false);
        sgd.LoadStateDict(ckpt.Optimizer, ckpt.State.GlobalStep);
        Assert.Equal(momentum.Keys.Order(), sgd.StateDict().Keys.Order());
        foreach (var (k, v) in sgd.StateDict()) Assert.Equal(momentum[k], v.data<float>().ToArray());
        // the weights file alone loads into a fresh model (what `parnet eval --weights` does)
        using var plain = ModelFactory.Create(ckpt.State.Model);
        StateDict.Load(plain, Path.Combine(ckpt.Directory, Checkpoint.WeightsFile));
        var loaded = Snapshot(plain);
        Assert.Equal(saved.Keys.Order(), loaded.Keys.Order());
        foreach (var (k, v) in loaded) Assert.Equal(saved[k], v);
    }

    [Fact]
    public void Resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one()
    {
        // One intra-op thread: multi-threaded CPU reductions may sum in another order from run to run,
        // and this test asks for bit-identical weights.
        int threads = get_num_threads();
        try { ResumeEqualityOnOneThread(); }
        finally { set_num_threads(threads); }
    }

    void ResumeEqualityOnOneThread()
    {
        var config = TinyModels.Config(blockDropout: 0.1);   // dropout: the RNG state must be restored too
        var data = SyntheticSource.Patterns(160, 4, 8, 32);
        var recipe = Quick(3) with { EmaDecay = 0.5, WarmupEpochs = 1 };
        Dictionary<string, float[]> straight;
        using (var dir = new TempDir())
        {
            Trainer.Seed(recipe.Seed);
            using var model = ModelFactory.Create(config);
            using var trainer = new Trainer(model, data, data, new TrainOptions { Recipe = recipe, RunDirectory = dir.Path });
            Assert.Equal(StopReason.Completed, trainer.Run().Reason);
            straight = Snapshot(model);
        }
        using (var dir = new TempDir())
        {
            Trainer.Seed(recipe.Seed);
            using (var model = ModelFactory.Create(config))
            using (var trainer = new Trainer(model, data, data, new TrainOptions { Recipe = recipe, RunDirectory = dir.Path, StopAfterSteps = 7 }))
            {
                var first = trainer.Run();   // 5 steps per epoch: stops in the middle of epoch 2
                Assert.Equal(StopReason.Interrupted, first.Reason);
                Assert.Equal((1, 2), (first.State.Epoch, first.State.BatchInEpoch));
            }
            Trainer.Seed(12345);   // a different seed: everything must come from the checkpoint
            manual_seed(999);
            using var resumed = ModelFactory.Create(config);
            using var ckpt = Checkpoint.Load(Path.Combine(dir.Path, "checkpoints", "last"));
            var resumedTrain = SyntheticSource.Patterns(160, 4, 8, 32);   // the same data, its own count of batches built
            var events = new List<TrainEvent>();
            using var trainer2 = new Trainer(resumed, resumedTrain, data, new TrainOptions { Recipe = recipe, RunDirectory = dir.Path, ResumeFrom = ckpt, Progress = new InlineProgress(events.Add) });
            var result = trainer2.Run();
            Assert.Equal(StopReason.Completed, result.Reason);
            // one way of counting (it read "resuming at epoch 2, batch 2", then the progress line said batch 3: session 38's audit)
            Assert.Equal("resuming in epoch 2 after its batch 2 of 5, step 7", events.OfType<MessageEvent>().First().Text);
            Assert.Equal(3 + 5, resumedTrain.BatchesBuilt);   // epoch 2 from its batch 2 on, then epoch 3: the 2 trained batches are not rebuilt
            Assert.Equal(3, result.State.History.Count);
            Assert.Equal(15, result.State.GlobalStep);
            var differing = Snapshot(resumed).Where(kv => !kv.Value.SequenceEqual(straight[kv.Key])).Select(kv => $"{kv.Key} max diff {kv.Value.Zip(straight[kv.Key]).Max(p => Math.Abs(p.First - p.Second))}").ToList();
            Assert.True(differing.Count == 0, string.Join("; ", differing));
        }
    }

    [Fact]
    public void NaN_loss_stops_the_run_and_keeps_the_last_good_checkpoint()
    {
        using var dir = new TempDir();
        var data = SyntheticSource.Patterns(64, 4, 8, 32);
        data.Corrupt = (epoch, images) => epoch < 1 ? images : images.Select(_ => float.NaN).ToArray();
        Trainer.Seed(0);
        using var model = ModelFactory.Create(TinyModels.Config());
        using var trainer = new Trainer(model, data, null, new TrainOptions { Recipe = Quick(3), RunDirectory = dir.Path });
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run());
        // the advice names the recipe's settings, not `parnet train`'s options (the CLI words it with those: BadInputTests)
        Assert.Matches(@"^the loss became NaN at epoch 2, batch 1 \(step \d+, LR [^)]+\); training stopped; the last good checkpoint is " +
                       $"{System.Text.RegularExpressions.Regex.Escape(Checkpoint.Locate(trainer.LastPath)!)}\\. Try a lower Recipe\\.Lr or more Recipe\\.WarmupEpochs\\.$", e.Message);
        using var ckpt = Checkpoint.Load(trainer.LastPath);
        Assert.Equal(1, ckpt.State.Epoch);
        Assert.All(ckpt.Weights.Values, t => Assert.True(t.isfinite().all().item<bool>()));
    }

    [Fact]
    public void A_new_trainer_is_refused_a_folder_that_holds_a_run_and_leaves_that_run_as_it_was()
    {
        // the library's own users (samples/FineTune run twice with one OUT_DIR) silently replaced the first run's checkpoints
        // and metrics; only `parnet train` refused the folder
        using var dir = new TempDir();
        var (trained, data) = OneEpochRunIn(dir.Path);
        using var model = trained;
        string metrics = File.ReadAllText(Path.Combine(dir.Path, "metrics.csv"));
        // the trainer's refusal names its own setting (it named TrainingRunPlan's, and lost its type in the broadcast: review,
        // session 30), and the CLI words both with --resume
        var e = Assert.Throws<ParNet.Runtime.InvalidSettingException>(() => new Trainer(model, data, null, new TrainOptions { Recipe = Quick(1), RunDirectory = dir.Path }));
        string refusal = $"{dir.Path} holds a training run already (its checkpoints/last), which a new run would overwrite: continue it with ";
        Assert.Equal((refusal + "TrainOptions.ResumeFrom, or give the new run another folder", "runDirectory"), (e.Message, e.ParamName));
        Assert.Equal(refusal + "--resume, or give the new run another folder", ParNet.Cli.OptionNames.Worded(e));
        var check = Assert.Throws<ParNet.Runtime.InvalidSettingException>(() => TrainingRun.RequireNoRunIn(dir.Path));
        Assert.Equal((refusal + "TrainingRunPlan.ResumeDirectory, or give the new run another folder", "runDirectory"), (check.Message, check.ParamName));
        Assert.Equal(refusal + "--resume, or give the new run another folder", ParNet.Cli.OptionNames.Worded(check));
        Assert.Equal(metrics, File.ReadAllText(Path.Combine(dir.Path, "metrics.csv")));
        using var ckpt = Checkpoint.Load(Path.Combine(dir.Path, "checkpoints", "last"));   // resuming it is still allowed
        using var resumed = new Trainer(model, data, null, new TrainOptions { Recipe = Quick(1), RunDirectory = dir.Path, ResumeFrom = ckpt });
    }

    [Fact]
    public void A_resumed_run_that_had_trained_all_its_epochs_says_so_in_the_recipes_terms()
    {
        using var dir = new TempDir();
        var (trained, data) = OneEpochRunIn(dir.Path);
        using var model = trained;
        var events = new List<TrainEvent>();
        using var ckpt = Checkpoint.Load(Path.Combine(dir.Path, "checkpoints", "last"));
        using (var resumed = new Trainer(model, data, null, new TrainOptions
               {
                   Recipe = Quick(1), RunDirectory = dir.Path, ResumeFrom = ckpt, Progress = new InlineProgress(events.Add),
               }))
            resumed.Run();
        var done = Assert.Single(events.OfType<AlreadyTrainedEvent>());
        Assert.Equal("the run has already trained its 1 epoch: nothing to do (resume with Recipe.Epochs = N, more than 1, to train further)", done.Text);
    }

    /// <summary>The schedule warnings were `parnet train`'s own strings (note 42): a program training through the library
    /// ran all warm-up, or with a step beyond its end, without a word. The trainer reports them, in the recipe's terms;
    /// a resume with nothing left to train, none.</summary>
    [Fact]
    public void A_run_whose_schedule_never_decays_is_warned_through_its_progress_in_the_recipes_terms()
    {
        using var dir = new TempDir();
        var data = SyntheticSource.Patterns(64, 4, 8, 32);
        Trainer.Seed(0);
        using var model = ModelFactory.Create(TinyModels.Config());
        var events = new List<TrainEvent>();
        var recipe = Quick(1) with { Schedule = ScheduleKind.Step, StepEpochs = 30, WarmupEpochs = 1 };
        using (var trainer = new Trainer(model, data, null, new TrainOptions { Recipe = recipe, RunDirectory = dir.Path, Progress = new InlineProgress(events.Add) }))
            trainer.Run();
        Assert.Equal(
            ["the 1 epoch is all warm-up (Recipe.WarmupEpochs = 1): the LR rises to 0.05 and never decays; give Recipe.WarmupEpochs below Recipe.Epochs (0 for none) for a run that ends annealed",
             "the LR never steps: one step every 30 epochs (Recipe.StepEpochs = 30) in a run of 1 (Recipe.Epochs = 1); give Recipe.Schedule = cosine for a run whose LR decays"],
            events.OfType<ScheduleWarningEvent>().Select(w => w.Text));
        // before the first step, where a front end shows it with the run's header
        Assert.True(events.FindIndex(e => e is ScheduleWarningEvent) < events.FindIndex(e => e is StepEvent));
        events.Clear();
        using var ckpt = Checkpoint.Load(Path.Combine(dir.Path, "checkpoints", "last"));
        using (var resumed = new Trainer(model, data, null, new TrainOptions { Recipe = recipe, RunDirectory = dir.Path, ResumeFrom = ckpt, Progress = new InlineProgress(events.Add) }))
            resumed.Run();
        Assert.Single(events.OfType<AlreadyTrainedEvent>());
        Assert.Empty(events.OfType<ScheduleWarningEvent>());
    }

    /// <summary>The refusal of a resume whose steps cannot start where the run stopped named the process count alone ("resume
    /// with 2 processes" to a run of 2 processes resumed at another batch: MPI audit, session 43): now a fitting batch.</summary>
    [Fact]
    public void A_resume_refused_for_its_batch_names_the_batches_that_fit()
    {
        var stopped = new TrainingState { Recipe = Quick(1) with { BatchSize = 4 }, Model = TinyModels.Config(), Processes = 2, BatchInEpoch = 5 };
        var e = Assert.Throws<InvalidDataException>(() => Trainer.ResumeBatchInEpoch(stopped, 2, 16, 99, "RUN"));
        Assert.Equal("RUN: the run stopped after 40 images of epoch 1 (2 processes x batch 4), not a whole number of steps of 2 processes x batch 16: " +
                     "resume with processes x batch dividing 40: 2 processes x batch 4 as it stopped", e.Message);
        e = Assert.Throws<InvalidDataException>(() => Trainer.ResumeBatchInEpoch(stopped, 4, 4, 99, "RUN"));   // 40 is not a multiple of 16
        Assert.EndsWith("dividing 40: 2 processes x batch 4 as it stopped, or 4 processes x batch 2 (the same global batch)", e.Message);
        Assert.Equal(5, Trainer.ResumeBatchInEpoch(stopped, 4, 2, 99, "RUN"));   // which fits: 40 images are 5 steps of 4 x 2
        Assert.Equal(10, Trainer.ResumeBatchInEpoch(stopped, 1, 4, 99, "RUN"));
    }

    /// <summary>An epoch trained to its end whose evaluation failed was saved at its last batch, a partial one: counted as whole
    /// steps (235 x 2 x 128 = 60,160 of Fashion-MNIST's 60,000) it was refused, or resumed past the epoch's end, under any
    /// other process count or batch (a defect hunt of session 44). It resumes at the end of the epoch in this run's batches.</summary>
    [Fact]
    public void An_epoch_awaiting_its_evaluation_resumes_at_its_end_under_any_processes_and_batch()
    {
        var pending = new TrainingState { Recipe = Quick(1) with { BatchSize = 128 }, Model = TinyModels.Config(), Processes = 2, BatchInEpoch = 235, EvaluationPending = true };
        Assert.Equal(469, Trainer.ResumeBatchInEpoch(pending, 1, 128, 469, "RUN"));   // alone at the same batch: 60,000 images in 469
        Assert.Equal(7, Trainer.ResumeBatchInEpoch(pending, 1, 2, 7, "RUN"));
        Assert.Equal(470, Trainer.ResumeBatchInEpoch(pending with { EvaluationPending = false }, 1, 128, 469, "RUN"));   // as read before the flag: past the end
    }

    [Fact]
    public void Interrupted_checkpoint_write_leaves_the_previous_one_readable()
    {
        using var dir = new TempDir();
        var data = SyntheticSource.Patterns(64, 4, 8, 32);
        Trainer.Seed(0);
        using var model = ModelFactory.Create(TinyModels.Config());
        using var trainer = new Trainer(model, data, null, new TrainOptions { Recipe = Quick(2), RunDirectory = dir.Path });
        int written = 0;
        try
        {
            // epoch 1 saves 3 files; the crash happens in the middle of epoch 2's save
            Checkpoint.AfterFileWritten = path => { if (Path.GetFileName(path) == Checkpoint.WeightsFile && ++written > 1) throw new IOException("simulated crash"); };
            Assert.Throws<IOException>(() => trainer.Run());
        }
        finally { Checkpoint.AfterFileWritten = null; }
        using var ckpt = Checkpoint.Load(trainer.LastPath);
        Assert.Equal(1, ckpt.State.Epoch);
        Assert.Empty(Directory.GetDirectories(Path.Combine(dir.Path, "checkpoints"), "*.tmp-*"));

        // a crash between the two renames leaves only last.old: still found
        Directory.Move(trainer.LastPath, trainer.LastPath + ".old");
        Assert.Equal(trainer.LastPath + ".old", Checkpoint.Locate(trainer.LastPath));
        Assert.Equal(1, Checkpoint.ReadState(trainer.LastPath).Epoch);
    }

    [Fact]
    public void A_crash_while_the_best_checkpoint_is_written_leaves_a_run_whose_best_checkpoint_is_the_one_it_names()
    {
        // the last checkpoint was written first, naming the epoch best; a kill (or a full disk) before the best one left a run
        // whose resume trained nothing more and whose best checkpoint never came (or stayed an earlier epoch's)
        using var dir = new TempDir();
        var data = SyntheticSource.Patterns(64, 4, 8, 32);
        var options = new TrainOptions { Recipe = Quick(1), RunDirectory = dir.Path };
        string last = Checkpoint.In(dir.Path), best = Checkpoint.In(dir.Path, Checkpoint.Best);
        Trainer.Seed(0);
        using (var model = ModelFactory.Create(TinyModels.Config()))
        using (var trainer = new Trainer(model, data, data, options))
        {
            try
            {
                Checkpoint.AfterFileWritten = path => { if (path.Contains($"{Checkpoint.Best}.tmp-")) throw new IOException("simulated crash"); };
                Assert.Throws<IOException>(() => trainer.Run());
            }
            finally { Checkpoint.AfterFileWritten = null; }
        }
        // the user continues: resumes the run when it has a checkpoint, else starts it again
        Trainer.Seed(0);
        using (var model = ModelFactory.Create(TinyModels.Config()))
        using (var ckpt = Checkpoint.Locate(last) is null ? null : Checkpoint.Load(last))
        using (var trainer = new Trainer(model, data, data, options with { ResumeFrom = ckpt }))
            Assert.Equal(StopReason.Completed, trainer.Run().Reason);
        Assert.Equal(1, Checkpoint.ReadState(last).BestEpoch);
        Assert.True(Checkpoint.Locate(best) is not null, "the run names epoch 1 best but has no best checkpoint");
        Assert.Equal(1, Checkpoint.ReadState(best).Epoch);
    }

    /// <summary>A run of 4 epochs of 3 steps that improves on its first epoch before its last (with these seeds: in epoch 2).</summary>
    static (Recipe Recipe, SyntheticSource Data, ModelConfig Model) Improving() =>
        (Quick(4, lr: 0.1), SyntheticSource.Patterns(96, 4, 8, 32, noise: 0.5), TinyModels.Config(width: 8));

    /// <summary>Trains <see cref="Improving"/> in <paramref name="directory"/> (evaluated every epoch) and stops
    /// it as a kill between the best and last checkpoints of its first epoch better than the first would: once that best
    /// checkpoint is written, the first file of the last one throws. Returns that epoch.</summary>
    static int RunKilledBetweenTheSavesOfABetterEpoch(string directory)
    {
        var (recipe, data, config) = Improving();
        Trainer.Seed(recipe.Seed);
        using var model = ModelFactory.Create(config);
        using var trainer = new Trainer(model, data, data, new TrainOptions { Recipe = recipe, RunDirectory = directory });
        int bestSaves = 0;
        try
        {
            // epoch 1's best save is the first; the next one is an epoch better than it
            Checkpoint.AfterFileWritten = path =>
            {
                if (path.Contains($"{Checkpoint.Last}.tmp-") && bestSaves == 2) throw new IOException("simulated kill");
                if (path.Contains($"{Checkpoint.Best}.tmp-") && Path.GetFileName(path) == Checkpoint.StateFile) bestSaves++;
            };
            Assert.Throws<IOException>(() => trainer.Run());
        }
        finally { Checkpoint.AfterFileWritten = null; }
        // the state the test needs: best one epoch ahead of last, before the run's last epoch
        var (last, best) = (Checkpoint.ReadState(Checkpoint.In(directory)), Checkpoint.ReadState(Checkpoint.In(directory, Checkpoint.Best)));
        Assert.True(best.BestEpoch == last.Epoch + 1 && best.BestEpoch < recipe.Epochs, $"last at epoch {last.Epoch}, best at {best.BestEpoch}");
        return best.BestEpoch;
    }

    [Fact]
    public void A_run_killed_between_the_best_and_last_saves_and_resumed_ends_with_the_best_checkpoint_of_an_uninterrupted_run()
    {
        int threads = get_num_threads();
        set_num_threads(1);   // bit-identical weights asked for (as Resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one)
        try
        {
            var (recipe, data, config) = Improving();
            using var straight = new TempDir();
            var straightEvents = new List<TrainEvent>();
            Trainer.Seed(recipe.Seed);
            using (var model = ModelFactory.Create(config))
            using (var trainer = new Trainer(model, data, data, new TrainOptions { Recipe = recipe, RunDirectory = straight.Path, Progress = new InlineProgress(straightEvents.Add) }))
                trainer.Run();
            using var dir = new TempDir();
            int killed = RunKilledBetweenTheSavesOfABetterEpoch(dir.Path);
            var events = new List<TrainEvent>();
            Trainer.Seed(recipe.Seed);
            using (var model = ModelFactory.Create(config))
            using (var ckpt = Checkpoint.Load(Checkpoint.In(dir.Path)))
            using (var trainer = new Trainer(model, data, data, new TrainOptions
                   { Recipe = recipe, RunDirectory = dir.Path, ResumeFrom = ckpt, Progress = new InlineProgress(events.Add) }))
                Assert.Equal(StopReason.Completed, trainer.Run().Reason);
            // the epoch trained again is judged as the uninterrupted run judged it, and rewrites best with the same weights
            Assert.Equal(straightEvents.OfType<EpochEvent>().Skip(killed - 1).Select(e => (e.Metrics.Epoch, e.Metrics.TestAccuracy, e.IsBest)),
                         events.OfType<EpochEvent>().Select(e => (e.Metrics.Epoch, e.Metrics.TestAccuracy, e.IsBest)));
            Assert.DoesNotContain(events, e => e is MessageEvent m && m.Text.Contains("trained again"));
            foreach (string name in new[] { Checkpoint.Last, Checkpoint.Best })
            {
                var (expected, actual) = (Checkpoint.ReadState(Checkpoint.In(straight.Path, name)), Checkpoint.ReadState(Checkpoint.In(dir.Path, name)));
                Assert.Equal((expected.Epoch, expected.BestEpoch, expected.BestAccuracy), (actual.Epoch, actual.BestEpoch, actual.BestAccuracy));
                Assert.Equal(File.ReadAllBytes(Path.Combine(Checkpoint.In(straight.Path, name), Checkpoint.WeightsFile)),
                             File.ReadAllBytes(Path.Combine(Checkpoint.In(dir.Path, name), Checkpoint.WeightsFile)));
            }
        }
        finally { set_num_threads(threads); }
    }

    [Fact]
    public void An_epoch_trained_again_after_a_kill_between_the_saves_that_is_not_best_leaves_the_run_naming_the_best_checkpoint_it_has()
    {
        // the resume judged the epoch against the previous best accuracy (restored from last) while the best checkpoint held the
        // epoch's first training, which had replaced the previous best one: the run then named the previous epoch best, a
        // checkpoint it no longer had, and any epoch above that one would have replaced a better one
        var (recipe, data, config) = Improving();
        using var dir = new TempDir();
        int killed = RunKilledBetweenTheSavesOfABetterEpoch(dir.Path);
        var (before, firstBest) = (Checkpoint.ReadState(Checkpoint.In(dir.Path)), Checkpoint.ReadState(Checkpoint.In(dir.Path, Checkpoint.Best)));
        var events = new List<TrainEvent>();
        Trainer.Seed(recipe.Seed);
        using (var model = ModelFactory.Create(config))
        using (var ckpt = Checkpoint.Load(Checkpoint.In(dir.Path)))
        using (var trainer = new Trainer(model, data, data, new TrainOptions
               {
                   // a resume that does not repeat the epoch's judgement: it is not evaluated this time (3 steps an epoch)
                   Recipe = recipe, RunDirectory = dir.Path, ResumeFrom = ckpt, EvalEvery = 4, StopAfterSteps = 4, Progress = new InlineProgress(events.Add),
               }))
            Assert.Equal(StopReason.Interrupted, trainer.Run().Reason);   // after that epoch and one step of the next
        var last = Checkpoint.ReadState(Checkpoint.In(dir.Path));
        var best = Checkpoint.ReadState(Checkpoint.In(dir.Path, Checkpoint.Best));
        Assert.Equal(killed, last.Epoch);
        Assert.Equal((firstBest.BestEpoch, firstBest.BestAccuracy), (best.BestEpoch, best.BestAccuracy));   // the first training's, kept
        Assert.Equal((best.BestEpoch, best.BestAccuracy), (last.BestEpoch, last.BestAccuracy));
        var said = Assert.Single(events.OfType<MessageEvent>(), m => m.Text.Contains("trained again"));
        Assert.Equal($"epoch {killed} was trained again: the run had stopped between its best and last checkpoints, and the best checkpoint holds its " +
                     $"first training (top-1 {firstBest.BestAccuracy * 100:F2}%), in place of epoch {before.BestEpoch}'s ({before.BestAccuracy * 100:F2}%); " +
                     "trained again it is not evaluated: the run's best stays that first training", said.Text);
    }

    /// <summary>A resume that never trains the epoch again (here: given no more epochs than the checkpoint has) ended
    /// recording the earlier best epoch, whose checkpoint the one written ahead had replaced.</summary>
    [Fact]
    public void A_resume_that_trains_no_further_records_the_best_checkpoint_written_ahead()
    {
        var (recipe, data, config) = Improving();
        using var dir = new TempDir();
        int killed = RunKilledBetweenTheSavesOfABetterEpoch(dir.Path);
        var (before, ahead) = (Checkpoint.ReadState(Checkpoint.In(dir.Path)), Checkpoint.ReadState(Checkpoint.In(dir.Path, Checkpoint.Best)));
        var events = new List<TrainEvent>();
        using (var model = ModelFactory.Create(config))
        using (var ckpt = Checkpoint.Load(Checkpoint.In(dir.Path)))
        using (var trainer = new Trainer(model, data, data, new TrainOptions
               { Recipe = recipe with { Epochs = before.Epoch }, RunDirectory = dir.Path, ResumeFrom = ckpt, Progress = new InlineProgress(events.Add) }))
            Assert.Equal(StopReason.Completed, trainer.Run().Reason);
        Assert.Empty(events.OfType<EpochEvent>());
        var last = Checkpoint.ReadState(Checkpoint.In(dir.Path));
        Assert.Equal((killed, ahead.BestAccuracy), (last.BestEpoch, last.BestAccuracy));
        var said = Assert.Single(events.OfType<MessageEvent>(), m => m.Text.StartsWith("the best checkpoint holds", StringComparison.Ordinal));
        Assert.Equal($"the best checkpoint holds epoch {killed} (top-1 {ahead.BestAccuracy * 100:F2}%), trained before the run stopped between its best " +
                     $"and last checkpoints and not trained again, in place of epoch {before.BestEpoch}'s ({before.BestAccuracy * 100:F2}%): the run's best " +
                     "is that epoch", said.Text);
    }

    /// <summary>Trains <paramref name="options"/> (no evaluation) until a kill in its second checkpoint's save, epoch 2's: its
    /// logs are written, its checkpoint not (the last one is epoch 1's).</summary>
    static void RunKilledInEpoch2sSave(TrainOptions options, SyntheticSource data)
    {
        Trainer.Seed(0);
        using var model = ModelFactory.Create(TinyModels.Config());
        using var trainer = new Trainer(model, data, null, options);
        int saves = 0;
        try
        {
            Checkpoint.AfterFileWritten = path => { if (Path.GetFileName(path) == Checkpoint.StateFile) saves++; else if (saves == 1) throw new IOException("simulated kill"); };
            Assert.Throws<IOException>(() => trainer.Run());
        }
        finally { Checkpoint.AfterFileWritten = null; }
        Assert.Equal(1, Checkpoint.ReadState(Checkpoint.In(options.RunDirectory)).Epoch);
    }

    [Fact]
    public void A_resume_takes_metrics_and_plots_back_to_the_checkpoints_epoch()
    {
        // a kill after epoch 2's logs and before its checkpoint left metrics.csv and the plots at epoch 2, the checkpoint at
        // epoch 1; the resume rewrote them only at the end of its next epoch, and never when it stopped before it
        using var dir = new TempDir();
        var data = SyntheticSource.Patterns(64, 4, 8, 32);
        var options = new TrainOptions { Recipe = Quick(3), RunDirectory = dir.Path };
        string csv = Path.Combine(dir.Path, "metrics.csv"), lossPlot = Path.Combine(dir.Path, MetricsLog.PlotFiles[0]);
        RunKilledInEpoch2sSave(options, data);
        Assert.Equal(3, File.ReadAllLines(csv).Length);   // header, epochs 1 and 2: the state the test needs
        File.WriteAllBytes(lossPlot, [1, 2, 3]);   // a marker in place of epoch 2's plot (file times are too coarse to tell a redraw)
        Trainer.Seed(0);
        using (var model = ModelFactory.Create(TinyModels.Config()))
        using (var ckpt = Checkpoint.Load(Checkpoint.In(dir.Path)))
        using (var trainer = new Trainer(model, data, null, options with { ResumeFrom = ckpt, StopAfterSteps = 1 }))
            Assert.Equal(StopReason.Interrupted, trainer.Run().Reason);   // stopped in epoch 2, trained again
        Assert.Equal([MetricsLog.CsvHeader, "1"], File.ReadAllLines(csv).Select(line => line.Split(',')[0] == "epoch" ? line : line.Split(',')[0]));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(lossPlot).Take(4));   // drawn again at the resume
    }

    [Fact]
    public void The_steps_a_resume_trains_again_replace_the_killed_attempts_in_TensorBoards_loaders()
    {
        // the killed attempt logged steps 3-4 and epoch 2 after its checkpoint (epoch 1, step 2); the resume logs them again in
        // its own event file; TensorBoard's Python loader showed both (it purges only at a SessionLog START, none was written)
        using var dir = new TempDir();
        var data = SyntheticSource.Patterns(64, 4, 8, 32);   // 2 steps an epoch
        var options = new TrainOptions { Recipe = Quick(3), RunDirectory = dir.Path, StepLogEvery = 1 };
        RunKilledInEpoch2sSave(options, data);
        Trainer.Seed(0);
        using (var model = ModelFactory.Create(TinyModels.Config()))
        using (var ckpt = Checkpoint.Load(Checkpoint.In(dir.Path)))
        using (var trainer = new Trainer(model, data, null, options with { ResumeFrom = ckpt }))
            Assert.Equal(StopReason.Completed, trainer.Run().Reason);
        // both loaders read a run's files in name order (SummaryWriter names them by creation time)
        var files = Directory.GetFiles(Path.Combine(dir.Path, "tensorboard")).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(2, files.Count);
        var events = files.Select(TensorBoardWriter.ReadEvents).ToList();
        var starts = events.Select(file => file.Where(e => e.SessionLog?.Status == Tensorboard.SessionLog.Types.SessionStatus.Start).Select(e => e.Step).ToList()).ToList();
        Assert.Equal([[0L], [3L]], starts);   // the new run's at 0, the resume's at its first step trained again
        Assert.All(events, file => Assert.Equal(Tensorboard.Event.WhatOneofCase.SessionLog, file[1].WhatCase));   // right after file_version

        // the Python loader (files of file_version 2): at a START other than the run's first, every tag's records at or after its step go
        var python = new List<(string Tag, long Step)>();
        bool started = false;
        foreach (var e in events.SelectMany(file => file))
        {
            if (e.SessionLog?.Status == Tensorboard.SessionLog.Types.SessionStatus.Start)
            {
                if (started) python.RemoveAll(r => r.Step >= e.Step);
                started = true;
            }
            else if (e.Summary is not null) python.AddRange(e.Summary.Value.Select(v => (v.Tag, e.Step)));
        }
        Assert.Equal([1L, 2, 3, 4, 5, 6], python.Where(r => r.Tag == "step/train_loss").Select(r => r.Step));
        // (its epoch/* records are at the epoch number, below that step: epoch 2 stays twice there, as the class notes say)
        Assert.Equal([1L, 2, 2, 3], python.Where(r => r.Tag == "epoch/train_loss").Select(r => r.Step));

        // the Rust data server (TensorBoard's default): per tag, a record drops that tag's records at or after its step
        var rust = new Dictionary<string, List<long>>();
        foreach (var e in events.SelectMany(file => file).Where(e => e.Summary is not null))
            foreach (var v in e.Summary.Value)
            {
                var steps = rust.TryGetValue(v.Tag, out var seen) ? seen : rust[v.Tag] = [];
                steps.RemoveAll(step => step >= e.Step);
                steps.Add(e.Step);
            }
        Assert.Equal([1L, 2, 3, 4, 5, 6], rust["step/train_loss"]);
        Assert.Equal([1L, 2, 3], rust["epoch/train_loss"]);
        var histograms = rust.Where(kv => kv.Key.StartsWith("weights/", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(histograms);
        Assert.All(histograms, kv => Assert.Equal([1L, 2, 3], kv.Value));
    }

    [Fact]
    public void BFloat16_training_keeps_Float32_master_weights_and_learns()
    {
        using var dir = new TempDir();
        var data = SyntheticSource.Patterns(64, 4, 8, 32, noise: 0.2);
        Trainer.Seed(0);
        using var model = ModelFactory.Create(TinyModels.Config(width: 8));
        // 20 epochs: this task sits at chance for its first 7-10 epochs whatever the precision, then climbs to 100%
        // (float32 by epoch 11-12; with float32 batch norms, bfloat16 by epoch 12-16 over seeds 0 and 1)
        using var trainer = new Trainer(model, data, data, new TrainOptions { Recipe = Quick(20) with { WeightDecay = 0 }, RunDirectory = dir.Path, BFloat16 = true, EvalEvery = 20 });
        var result = trainer.Run();
        Assert.Equal(ScalarType.BFloat16, model.parameters().First().dtype);
        // as autocast: BatchNorm layers (parameters and running statistics) stay float32, everything else is bfloat16
        var state = model.state_dict();
        var norms = state.Where(kv => kv.Key.Contains("rbr_identity.") && kv.Value.is_floating_point()).ToList();
        var convs = state.Where(kv => kv.Key.EndsWith("conv.weight")).ToList();
        Assert.NotEmpty(norms);
        Assert.NotEmpty(convs);
        Assert.All(norms, kv => Assert.Equal(ScalarType.Float32, kv.Value.dtype));
        Assert.All(convs, kv => Assert.Equal(ScalarType.BFloat16, kv.Value.dtype));
        Assert.Contains(trainer.Optimizer.StateDict(), kv => kv.Key.StartsWith("master.") && kv.Value.dtype == ScalarType.Float32);
        Assert.True(result.State.History[^1].TestAccuracy >= 0.9, $"accuracy {result.State.History[^1].TestAccuracy}");

        // its test scores are those of the weights its checkpoint saves, in float32, as `eval` of the checkpoint scores them:
        // tested in bfloat16, the run's scores and eval's differed (an audit of fine-tuning, session 45)
        using var saved = ModelFactory.Create(TinyModels.Config(width: 8));
        StateDict.Load(saved, Path.Combine(result.LastCheckpoint, Checkpoint.WeightsFile));
        var scored = Evaluator.Evaluate(saved, data, 4);
        Assert.Equal(scored.Loss, result.State.History[^1].TestLoss!.Value, 6);
    }
}
