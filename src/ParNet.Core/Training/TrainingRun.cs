using ParNet.Data;
using ParNet.Distributed;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Training;

/// <summary>What a training run is started with, once a caller (`parnet train`) has merged its options, the recipe and,
/// for a resumed run, the run's own run.json.</summary>
public sealed record TrainingRunPlan
{
    public required Recipe Recipe { get; init; }
    public required ModelConfig Model { get; init; }
    /// <summary><see cref="Model"/> is the configuration stored with the pretrained weights (a new classifier on it), not
    /// one the caller chose: a refusal of the model then names the weights it came from.</summary>
    public bool ModelFromPretrained { get; init; }
    /// <summary>Data set, data folder, classes, subsets, evaluation period, layout, bf16, frozen parts, pretrained weights:
    /// what run.json keeps. Its <see cref="RunSettings.ClassNames"/>, when set (a resumed run's), must be the data's; its
    /// pretrained weights start a new run's backbone and are only a record in a resumed one (the checkpoint has the weights).</summary>
    public required RunSettings Settings { get; init; }
    /// <summary>Continue from this run folder's checkpoints/last (null: a new run).</summary>
    public string? ResumeDirectory { get; init; }
    /// <summary>Data loader threads (<see cref="LoaderOptions.DefaultWorkers"/>: the cores are better spent on the model).</summary>
    public int Workers { get; init; } = LoaderOptions.DefaultWorkers;
    public TimeSpan? TimeBudget { get; init; }
    public TimeSpan? ScheduleBudget { get; init; }
    public bool CheckReplicas { get; init; }
}

/// <summary>
/// A training run as `parnet train` starts it, in the order a data-parallel launch needs: <see cref="Prepare"/> is the
/// local setup that may fail on one process (data, model, resumed or pretrained weights, frozen parts: ArgumentException,
/// IOException or InvalidDataException with one line); then the caller agrees with the other processes, rank 0 writes the
/// run folder (<see cref="WriteRunFiles"/>), and every process trains (<see cref="CreateTrainer"/>, then Run).
/// </summary>
public sealed class TrainingRun : IDisposable
{
    public TrainingRunPlan Plan { get; }
    public DataLoader TrainData { get; }
    public DataLoader TestData { get; }
    public ImageClassifier Model { get; }
    /// <summary>What came from the plan's pretrained weights (null: none).</summary>
    public Pretrained.Report? FromPretrained { get; }
    public Pretrained.Frozen Frozen { get; }
    readonly IProcessGroup _group;
    LoadedCheckpoint? _resume;
    FolderLock? _folderLock;   // rank 0's hold of the run folder, from its run files to the end of the run

    TrainingRun(TrainingRunPlan plan, IProcessGroup group, DataLoader train, DataLoader test, ImageClassifier model,
                LoadedCheckpoint? resume, Pretrained.Report? fromPretrained, Pretrained.Frozen frozen)
    {
        (Plan, _group, TrainData, TestData, Model, _resume, FromPretrained, Frozen) = (plan, group, train, test, model, resume, fromPretrained, frozen);
        ScheduleBudget = Trainer.ScheduleBudgetOf(plan.ScheduleBudget, resume?.State);
        TimeSoFar = TimeSpan.FromSeconds(resume?.State.WallSeconds ?? 0);
    }

    /// <summary>The data loaders (this process's shard under several processes), the model seeded with the recipe's seed,
    /// its weights (the run's last checkpoint, or the plan's pretrained backbone) and what is frozen.</summary>
    public static TrainingRun Prepare(TrainingRunPlan plan, IProcessGroup? processes = null)
    {
        var group = processes ?? new SingleProcess();
        bool distributed = group.Size > 1;
        var (recipe, model, s) = (plan.Recipe, plan.Model, plan.Settings);
        var loaderOptions = new LoaderOptions
        {
            BatchSize = recipe.BatchSize, Seed = recipe.Seed, Workers = plan.Workers, Classes = s.Classes?.ToArray(),
            Subset = s.SubsetPerClass is int n ? Subset.PerClass(n, recipe.Seed) : null,
            Shard = distributed ? new Shard(group.Rank, group.Size, PadToEqual: true) : null,
        };
        // under several processes a rank's error names the data it was reading: the ranks may see different folders
        var train = Labelled(() => DataPipelines.Train(s.Dataset, s.DataDirectory, model, recipe.Augmentation(), loaderOptions),
            distributed ? "the training data" : null);
        var test = Labelled(() => DataPipelines.Eval(s.Dataset, s.DataDirectory, model, recipe.Augmentation(), loaderOptions with
            {
                BatchSize = EvaluationDefaults.DuringTraining(recipe.BatchSize), Subset = EvaluationDefaults.PerClassSubset(s.TestSubsetPerClass),
                Shard = distributed ? new Shard(group.Rank, group.Size, PadToEqual: false) : null,
            }), distributed ? "the evaluation data" : null);
        if (train.ClassNames.Count != model.NumClasses)
            throw new ArgumentException(plan.ResumeDirectory is not null
                ? $"the data has {train.ClassNames.Count} classes, the resumed run's model {model.NumClasses}: a resumed run trains on the classes it started with"
                : $"the data has {train.ClassNames.Count} classes, the model {model.NumClasses} (its configuration's " +
                  $"NumClasses: set it to {train.ClassNames.Count} for this data)");
        if (train.ImageShape.Channels != model.InChannels)   // here, not in the Trainer: a setup refusal is one line
            throw new ArgumentException($"the training data has {train.ImageShape.Channels}-channel images, {model.Name} takes {model.InChannels}-channel ones" +
                                        (s.Pretrained is { } from && plan.ModelFromPretrained && plan.ResumeDirectory is null
                                            ? $" (the configuration of the pretrained weights {from}: weights for grey images cannot start a model " +
                                              "for colour ones; colour weights can start a grey model)"
                                            : ""));
        RequireSameFolderClasses(s, train.ClassNames, test.ClassNames);
        if (s.ClassNames is { } trainedOn)
            DataPipelines.RequireSameClasses(trainedOn, "the run's training data (run.json)", train.ClassNames, "the training data now");

        Trainer.Seed(recipe.Seed);
        var net = ModelFactory.Create(model);
        LoadedCheckpoint? resume = null;
        try
        {
            if (plan.ResumeDirectory is { } dir)
            {
                resume = Checkpoint.Load(Checkpoint.In(dir));
                // here, before the processes agree that setup succeeded, so that a refusal is one line, not one per rank, and
                // before the run files are written: a resume refused later had rewritten run.json with its options, which the
                // next plain resume then trained on (a defect hunt of session 44)
                Trainer.RequireEpochsAhead(resume.State, plan.Recipe.Epochs, resume.Directory);
                int start = Trainer.ResumeBatchInEpoch(resume.State, group.Size, plan.Recipe.BatchSize, train.BatchesPerEpoch, resume.Directory);
                Trainer.RequireStartWithin(start, train.BatchesPerEpoch, resume.State.Epoch);
                Trainer.RequireSameEmaUse(resume, plan.Recipe);
            }
            var fromPretrained = plan.ResumeDirectory is null && s.Pretrained is { } weights
                ? Pretrained.LoadBackbone(net, weights, s.PretrainedEma ? CheckpointWeights.Ema : CheckpointWeights.Model) : null;
            var frozen = Pretrained.Freeze(net, s.Freeze);
            Trainer.RequireMoreThanOneValuePerBatchNorm(net, train, s.FreezeBatchNorm ? Pretrained.BatchNorms(net) : frozen.BatchNorms,   // a one-line refusal here
                                                        s.SyncBatchNorm && distributed);
            bool trainsNothing = Trainer.TrainsNothing(resume?.State, plan.Recipe.Epochs, plan.ScheduleBudget);
            Trainer.RequireStepFits(net, train, s.BFloat16, group.ProcessesOnThisMachine, trainsNothing);
            return new TrainingRun(plan, group, train, test, net, resume, fromPretrained, frozen) { ResumesFinishedRun = trainsNothing };
        }
        catch
        {
            resume?.Dispose();
            net.Dispose();
            throw;
        }
    }

    static readonly string ClassesSetting = SettingNames.Of(nameof(RunSettings), nameof(RunSettings.Classes));

    /// <summary><see cref="DataPipelines.RequireSameClasses"/> of the training and evaluation data; for an image folder whose
    /// val/ and train/ hold other classes, the refusal also says what to do: it named the difference alone (an audit of
    /// fine-tuning and eval, session 45). With classes selected, val/ is matched to train/ by name, so the lists agree.</summary>
    static void RequireSameFolderClasses(RunSettings s, IReadOnlyList<string> train, IReadOnlyList<string> test)
    {
        try { DataPipelines.RequireSameClasses(train, $"the training data ({s.Dataset})", test, "the evaluation data"); }
        catch (InvalidDataException e) when (DataPipelines.IsFolderLayout(s.Dataset) && s.Classes is null && s.DataDirectory is { } dir)
        {
            var both = train.Select((name, id) => (name, id)).Where(c => test.Contains(c.name, StringComparer.Ordinal)).Select(c => c.id).ToList();
            throw new InvalidSettingException(ClassesSetting, names =>
                $"{e.Message}; " + (both.Count >= 2 ? $"train on the classes both hold with {names.Given(ClassesSetting, string.Join(",", both))} " +
                                                      $"(ids of {Path.Combine(dir, "train")}'s classes), or " : "") +
                $"give {Path.Combine(dir, "val")} the class folders of {Path.Combine(dir, "train")}", e);
        }
    }

    /// <summary>Why the run folder is not locked against another process (<see cref="FolderLock.Unlocked"/>), once the
    /// run files are written; null when it is (or not written here).</summary>
    public string? FolderUnlocked => _folderLock?.Unlocked;

    /// <summary>recipe.json, model.json and run.json (the plan's settings with the data's class names): rank 0's to write,
    /// a new run's now, a resumed run's by its trainer just before its first checkpoint (<see cref="CreateTrainer"/>).
    /// The folder is held for this process until the run is disposed (<see cref="FolderLock"/>: a
    /// <see cref="FolderInUseException"/> while another process trains there); a new run (not resuming) is refused a folder
    /// that holds a run (<see cref="RequireNoRunIn"/>).</summary>
    public void WriteRunFiles(string runDirectory)
    {
        _folderLock ??= FolderLock.Take(runDirectory);
        if (Plan.ResumeDirectory is null) RequireNoRunIn(runDirectory);
        if (ResumesFinishedRun) return;   // its files say how it trained: a resume that trains nothing keeps them (options given now included)
        // a resume's with its first checkpoint (CreateTrainer): one that diverged before it had rewritten run.json with its
        // options, which the next plain resume then trained on (a resume audit of session 44)
        if (Plan.ResumeDirectory is not null) _runFilesBeforeFirstCheckpoint = runDirectory;
        else Write(runDirectory);
    }

    string? _runFilesBeforeFirstCheckpoint;

    void Write(string runDirectory)
    {
        AtomicFile.WriteAllText(Path.Combine(runDirectory, "recipe.json"), Plan.Recipe.ToJson());
        AtomicFile.WriteAllText(Path.Combine(runDirectory, "model.json"), Plan.Model.ToJson());
        (Plan.Settings with { ClassNames = TrainData.ClassNames }).Save(runDirectory);
    }

    /// <summary><see cref="InvalidSettingException"/> when <paramref name="runDirectory"/> holds a training run with a checkpoint (checkpoints/last):
    /// a new run there would replace its checkpoints, run files and metrics, and mix its TensorBoard events with the new ones.
    /// A folder whose run stopped before its first checkpoint is taken (there is nothing to resume).</summary>
    public static void RequireNoRunIn(string runDirectory)
    {
        if (HoldsRun(runDirectory)) throw RunAlreadyIn(runDirectory, SettingNames.Of(nameof(TrainingRunPlan), nameof(TrainingRunPlan.ResumeDirectory)));
    }

    /// <summary>Whether <paramref name="runDirectory"/> holds a run with a checkpoint (checkpoints/last).</summary>
    internal static bool HoldsRun(string runDirectory) => Checkpoint.Locate(Checkpoint.In(runDirectory)) is not null;

    /// <summary>The refusal of a new run in a folder that holds one; <paramref name="resumeSetting"/>: the setting that would
    /// continue it instead, in the API the caller used (a plan's ResumeDirectory, a trainer's ResumeFrom).</summary>
    internal static InvalidSettingException RunAlreadyIn(string runDirectory, string resumeSetting) =>
        new(nameof(runDirectory), names =>
            $"{runDirectory} holds a training run already (its {Checkpoint.FolderName}/{Checkpoint.Last}), which a new run " +
            $"would overwrite: continue it with {names.Name(resumeSetting)}, or give the new run another folder");

    /// <summary>The run's schedule budget: the plan's, else a resumed run's own (its checkpoint's), which a resume keeps unless
    /// given another; null when the run has none. What the trainer fits the LR schedule into.</summary>
    public TimeSpan? ScheduleBudget { get; }

    /// <summary>The run's time so far: a resumed run's (its checkpoint's), 0 in a new one; what a schedule budget has spent.</summary>
    public TimeSpan TimeSoFar { get; }

    /// <summary>Whether this resumes a run that had finished all the recipe's epochs: the trainer then trains and saves
    /// nothing, and the run files stay as they were (a resume of a finished run with `--lr 0.5` had rewritten its recipe.json
    /// to an LR it never trained at; session 39).</summary>
    public bool ResumesFinishedRun { get; private init; }

    /// <summary>The trainer of this run, writing into <paramref name="runDirectory"/> (every process the same folder; rank 0
    /// writes). A process other than rank 0 draws its own dropout masks; the weights all start as rank 0's.</summary>
    public Trainer CreateTrainer(string runDirectory, IProgress<TrainEvent>? progress)
    {
        if (_group.Rank > 0) manual_seed(Plan.Recipe.Seed + RankSeedStride * _group.Rank);
        var s = Plan.Settings;
        var trainer = new Trainer(Model, TrainData, TestData, new TrainOptions
        {
            Recipe = Plan.Recipe, RunDirectory = runDirectory, BFloat16 = s.BFloat16, ChannelsLast = s.ChannelsLast, ResumeFrom = _resume,
            EvalEvery = s.EvalEvery, KeepInEvalMode = s.FreezeBatchNorm ? Pretrained.BatchNorms(Model) : Frozen.BatchNorms,
            TimeBudget = Plan.TimeBudget, ScheduleBudget = Plan.ScheduleBudget, Progress = progress,
            Processes = _group, SyncBatchNorm = Plan.Settings.SyncBatchNorm, CheckReplicas = Plan.CheckReplicas,
            // what run.json and state.json say, in the weights files themselves
            WeightsMetadata = RunSettings.DescribeWeights(s with { ClassNames = TrainData.ClassNames }, Plan.Model, Plan.Recipe) with { Fused = false },
            BeforeFirstCheckpoint = _runFilesBeforeFirstCheckpoint is { } folder ? () => Write(folder) : null,
        });
        _resume?.Dispose();   // the trainer has taken the checkpoint's state
        _resume = null;
        return trainer;
    }

    /// <summary>How far apart the ranks' dropout seeds lie: 7919, a prime (the 1000th), so that rank r's seed (the recipe's +
    /// 7919 r) is no other rank's, nor the seed of a neighbouring run (the recipe's seed + 1, + 2 ...) under any rank.</summary>
    const long RankSeedStride = 7919;

    static T Labelled<T>(Func<T> call, string? context)
    {
        if (context is null) return call();
        try { return call(); }
        catch (InvalidSettingException e) { throw new InvalidSettingException(e.ParamName!, names => $"{context}: {e.WordedWith(names)}", e); }
        catch (ArgumentException e) { throw new ArgumentException($"{context}: {e.Message}", e); }
    }

    public void Dispose()
    {
        _resume?.Dispose();
        Model.Dispose();
        _folderLock?.Dispose();
    }
}
