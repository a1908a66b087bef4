using ParNet.Distributed;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Training;

/// <summary>
/// The trainer's checkpoints: what a checkpoint captures and who writes it (<see cref="SaveLast"/>), the saves made when
/// an unreadable image stops an epoch or its evaluation, and the restore of a checkpoint for <c>--resume</c>
/// (with the batch an interrupted epoch resumes at under another process count).
/// </summary>
public sealed partial class Trainer
{
    /// <summary>
    /// A new run refused a folder that holds one (<see cref="TrainingRun.RequireNoRunIn"/>), decided by rank 0, which writes
    /// the folder, and said on every process: a refusal on rank 0 alone left the others waiting in the first broadcast.
    /// </summary>
    void RequireNoRunOnRoot(string runDirectory)
    {
        // every process the same typed refusal (the CLI words it with --resume), naming the trainer's own setting
        if (_group.RanksWhere(_group.Rank == 0 && TrainingRun.HoldsRun(runDirectory)).Length > 0)
            throw TrainingRun.RunAlreadyIn(runDirectory, SettingNames.Of(nameof(TrainOptions), nameof(TrainOptions.ResumeFrom)));
    }

    /// <summary>
    /// Rank 0's hold of the run folder (<see cref="FolderLock"/>; shared with its <see cref="TrainingRun"/>'s), or a
    /// <see cref="FolderInUseException"/> on every process while another process trains there (a failure to take it, on
    /// every process as an IOException): a refusal on rank 0 alone would leave the others waiting in the next collective.
    /// </summary>
    FolderLock? HoldRunFolderOnRoot(string runDirectory)
    {
        FolderLock? held = null;
        string refusal = "";
        if (_group.Rank == 0)
        {
            try { held = FolderLock.TryTake(runDirectory, out string? holder); refusal = held is null ? InUse + holder : ""; }
            catch (IOException e) { refusal = e.Message; }
        }
        refusal = _group.BroadcastText(refusal);
        if (refusal.Length == 0) return held;
        throw refusal.StartsWith(InUse, StringComparison.Ordinal) ? new FolderInUseException(runDirectory, refusal[InUse.Length..]) : new IOException(refusal);
    }

    const string InUse = "in use: ";

    /// <summary>The state a checkpoint records: the run's progress with the random generator, EMA updates, process count and clocks.</summary>
    TrainingState CaptureState()
    {
        using var rng = random.get_rng_state();
        return _state with
        {
            TorchRngState = Convert.ToBase64String(rng.data<byte>().ToArray()), EmaUpdates = _ema?.Updates ?? 0, Processes = _group.Size,
            WallSeconds = _clock.WallSeconds, ScheduleBudgetSeconds = _clock.ScheduleBudget?.TotalSeconds,
        };
    }

    /// <summary>
    /// Rank 0 writes the run's checkpoint (every process holds the same weights), with every process's generator; with
    /// <paramref name="alsoBest"/>, the best checkpoint first: a crash or a full disk between the two then leaves last at
    /// the epoch before, which a resume trains and judges again. (Last went first, and named an epoch best whose checkpoint
    /// was never written: walk I, session 30.)
    /// </summary>
    void SaveLast(bool alsoBest = false)
    {
        AverageRunningStatistics();
        var state = CaptureState();
        _state = state with { RankTorchRngStates = EveryRanks(state.TorchRngState!) };   // collectives: every process, not in CaptureState
        if (_group.Rank != 0) return;
        if (!_savedOnce) _o.BeforeFirstCheckpoint?.Invoke();
        _savedOnce = true;
        var metadata = _o.WeightsMetadata ?? WhatTheWeightsAre();
        if (alsoBest) Checkpoint.Save(BestPath, _model, _optimizer, _ema, _state, metadata);
        Checkpoint.Save(LastPath, _model, _optimizer, _ema, _state, metadata);
    }

    /// <summary>What the trainer itself knows its weights to be, where <see cref="TrainOptions.WeightsMetadata"/> says nothing:
    /// a Trainer used without <see cref="TrainingRun"/> wrote weights files that named no model, so that one copied out of its
    /// run loaded nowhere without its configuration (a library audit of session 47).</summary>
    ParNet.Weights.WeightsMetadata WhatTheWeightsAre() => new()
    {
        Model = _model.Config, ClassNames = _train.ClassNames, ImageSize = _train.ImageShape.Height, Fused = false,
    };

    bool _savedOnce;

    /// <summary>Each process's <paramref name="mine"/>, on every process (index = rank); null for one process.</summary>
    List<string>? EveryRanks(string mine) =>
        _group.Size == 1 ? null : Enumerable.Range(0, _group.Size).Select(rank => _group.BroadcastText(mine, root: rank)).ToList();

    /// <summary>
    /// An image of the epoch could not be read (a corrupt or truncated file in an image folder): the steps trained before
    /// it are saved as a resumable checkpoint, as an interruption saves them, instead of losing the epoch so far (hours, on
    /// ImageNet); the resumed epoch starts at the batch that holds the image, once the file is replaced. Throws the
    /// decoder's words, with where the run was saved, as an <see cref="UnreadableDataException"/> (every process alike).
    /// </summary>
    void StopAtUnreadableImage(UnreadableDataException unreadable, int epoch)
    {
        SaveLast();
        throw new UnreadableDataException($"{unreadable.Message}; training stopped in epoch {epoch + 1} before batch {_state.BatchInEpoch + 1}, " +
                                       $"its steps before it saved in {Path.GetFullPath(LastPath)}: replace the file with a readable image, then resume the run " +
                                       "(deleting it changes the data set: the rest of the epoch then follows another shuffle)",
                                       unreadable.InnerException);   // the decoder's own (on the process that met the file)
    }

    /// <summary>
    /// The epoch's evaluation; when an image of the test data cannot be read (a corrupt file in val/), the trained epoch
    /// is first saved as a resumable checkpoint at its end, not yet evaluated, instead of being lost with the run's every
    /// epoch since the last checkpoint; a resume evaluates it once the file is fixed or removed. Every process of a
    /// data-parallel run alike (<see cref="Evaluate"/> agrees on it).
    /// </summary>
    EvalResult EvaluateOrSaveTheEpoch(int epoch)
    {
        try { return Evaluate(epoch + 1); }
        catch (UnreadableDataException e)
        {
            _state = _state with { BatchInEpoch = _state.BatchInEpoch == 0 ? BatchesPerEpoch : _state.BatchInEpoch, EvaluationPending = true };   // 0: the epoch trained to its end
            SaveLast();
            throw new UnreadableDataException($"{e.Message}; the evaluation after epoch {epoch + 1} stopped, the epoch's training saved in " +
                                           $"{Path.GetFullPath(LastPath)}: replace or delete the file, then resume the run (it evaluates the epoch again)", e.InnerException);
        }
    }

    /// <summary>Puts a checkpoint's weights, optimizer, EMA and random generator back, and takes its progress with this run's recipe.</summary>
    void Restore(LoadedCheckpoint ckpt)
    {
        var s = ckpt.State;
        if (s.Model.ToJson() != _model.Config.ToJson())
            throw new InvalidDataException($"{ckpt.Directory}: the checkpoint was trained with another model configuration " +
                                           $"({JsonFields.Differences(s.Model.ToJson(), _model.Config.ToJson(), "in the checkpoint", "in the model")}): build the model from the checkpoint's, " +
                                           "ModelFactory.Create(checkpoint.State.Model)");
        StateDict.Load(_model, ckpt.Weights, strict: true, what: $"{ckpt.Directory}/{Checkpoint.WeightsFile}");
        _optimizer.LoadStateDict(ckpt.Optimizer, s.GlobalStep);
        RequireSameEmaUse(ckpt, _r);
        if (_ema is not null) _ema.Load(ckpt.Ema!, s.EmaUpdates);
        // each rank its own generator back; a rank the checkpoint has none for (a run resumed on more processes) keeps the
        // seed TrainingRun gave it: rank 0's would repeat rank 0's dropout masks
        if ((_group.Rank == 0 ? s.TorchRngState : s.RankTorchRngStates?.ElementAtOrDefault(_group.Rank)) is { } rng)
        {
            using var t = tensor(Convert.FromBase64String(rng), ScalarType.Byte);
            random.set_rng_state(t);
        }
        // The recipe of this run wins (a resumed run may, e.g., get more epochs); progress comes from the checkpoint.
        RequireEpochsAhead(s, _r.Epochs, ckpt.Directory);
        _resumedFinished = s.Finished;
        _resumedBatch = (s.Processes, s.Recipe.BatchSize);
        _state = s with { Recipe = _r, BFloat16 = _o.BFloat16, Finished = false, BatchInEpoch = ResumeBatchInEpoch(s, _group.Size, _r.BatchSize, BatchesPerEpoch, ckpt.Directory) };
        _clock.ResumeScheduleBudget(s.ScheduleBudgetSeconds);
        _bestAhead = BestCheckpointAhead(s);
    }

    /// <summary>
    /// The best checkpoint's state when it is of an epoch after the checkpoint resumed from: the run stopped between the two
    /// saves of a best epoch (best is written first, <see cref="SaveLast"/>), so the resume trains that epoch again, and that
    /// best checkpoint has replaced the run's previous best one. Null otherwise (or when the best checkpoint is unreadable:
    /// the next best epoch replaces it, as before).
    /// </summary>
    TrainingState? BestCheckpointAhead(TrainingState resumed)
    {
        if (Checkpoint.Locate(BestPath) is null) return null;
        try { return Checkpoint.ReadState(BestPath) is { BestEpoch: var epoch } best && epoch > resumed.Epoch && best.BestAccuracy >= 0 ? best : null; }
        catch (InvalidDataException) { return null; }
    }

    /// <summary>The best checkpoint written one epoch ahead of the checkpoint resumed from (<see cref="BestCheckpointAhead"/>),
    /// until the resumed run has trained and judged that epoch again.</summary>
    TrainingState? _bestAhead;

    /// <summary>
    /// Whether epoch <paramref name="epoch"/> (1-based), evaluated at <paramref name="top1"/> (null: not evaluated), is the
    /// run's best so far, and the best accuracy and epoch the run records after it. An epoch trained again after a stop
    /// between the best and last saves is judged as an uninterrupted run judges it (against the best before it), and
    /// rewrites the best checkpoint when it is best: a deterministic resume rewrites it with the same weights. When the epoch
    /// trained again is not best (a resume that does not repeat the first training: another recipe, process count or thread
    /// count), the best checkpoint still holds the first training of that epoch, and the earlier best one it replaced is
    /// gone: the run then records that checkpoint's epoch and accuracy, so that its reported best is the checkpoint it has and
    /// only a better epoch replaces it, and says so.
    /// </summary>
    (bool IsBest, double Accuracy, int Epoch) JudgeEpoch(int epoch, double? top1)
    {
        if (top1 is double a && a > _state.BestAccuracy) { _bestAhead = null; return (true, a, epoch); }
        if (_bestAhead is not { } ahead || ahead.BestEpoch != epoch) return (false, _state.BestAccuracy, _state.BestEpoch);
        string replaced = TakeBestAhead();
        string again = top1 is double t ? $"top-1 {Percent(t)}, not above epoch {_state.BestEpoch}'s" : "not evaluated";
        Report(new MessageEvent($"epoch {epoch} was trained again: the run had stopped between its best and last checkpoints, and the best " +
                                $"checkpoint holds its first training (top-1 {Percent(ahead.BestAccuracy)}){replaced}; trained again it is {again}: " +
                                "the run's best stays that first training"));
        return (false, ahead.BestAccuracy, ahead.BestEpoch);
    }

    /// <summary>
    /// At the end of a run that never trained again the epoch of a best checkpoint written ahead of the one resumed from
    /// (<see cref="BestCheckpointAhead"/>: resumed with fewer epochs, or the schedule budget ended it first): that checkpoint
    /// is the best one the run has (it replaced the earlier best), so the run records its epoch and accuracy, and says so.
    /// </summary>
    void AdoptBestCheckpointAhead()
    {
        if (_bestAhead is not { } ahead) return;
        string replaced = TakeBestAhead();
        Report(new MessageEvent($"the best checkpoint holds epoch {ahead.BestEpoch} (top-1 {Percent(ahead.BestAccuracy)}), trained before the run " +
                                $"stopped between its best and last checkpoints and not trained again{replaced}: the run's best is that epoch"));
        _state = _state with { BestAccuracy = ahead.BestAccuracy, BestEpoch = ahead.BestEpoch };
    }

    /// <summary>Ends <see cref="_bestAhead"/>'s record (the run now records that checkpoint as its best) and words the best it
    /// replaced, for the message that says so: ", in place of epoch 1's (25.00%)", or nothing before any best.</summary>
    string TakeBestAhead()
    {
        _bestAhead = null;
        return _state.BestAccuracy >= 0 ? $", in place of epoch {_state.BestEpoch}'s ({Percent(_state.BestAccuracy)})" : "";
    }

    static string Percent(double accuracy) => $"{accuracy * 100:F2}%";

    /// <summary>The processes and per-process batch of the checkpoint resumed from (null: a run from the start).</summary>
    (int Processes, int BatchSize)? _resumedBatch;

    /// <summary>
    /// What a resume on another process count or batch changes, for its "resuming at" line: the global batch, and with it
    /// the LR where the recipe scales it (a resume on two processes of a run of one, say, would otherwise take twice the
    /// images per step without a word); empty when the global batch is the one the run trained at.
    /// </summary>
    string GlobalBatchChange()
    {
        if (_resumedBatch is not { } was || was.Processes * was.BatchSize == GlobalBatchSize) return "";
        string lr = _r.ReferenceBatchSize is null
            ? $"the recipe names no batch to scale its LR from, so the LR stays {_r.Lr:G4}"
            : $"the LR scales with it, from {_r.ScaledLr(was.Processes * was.BatchSize):G4} to {_r.ScaledLr(GlobalBatchSize):G4} at its peak";
        return $"; the run trained at global batch {was.Processes * was.BatchSize} ({Processes(was.Processes)} x {was.BatchSize}) and goes on " +
               $"at {GlobalBatchSize} ({Processes(_group.Size)} x {_train.BatchSize}): {lr}";
    }

    static string Processes(int n) => n == 1 ? "1 process" : $"{n} processes";

    /// <summary>
    /// Refuses to resume a run with a recipe of fewer epochs than it has trained: "nothing to do" then read "the run has
    /// already trained its 2 epochs" of a run of 4, the no-op rewrote the run's recipe to 2 epochs, and a later plain resume
    /// said 2 as well (concurrency audit, session 38). As many epochs as trained is a run with nothing left to do.
    /// </summary>
    /// <summary>A resume that turns the average of the weights (EMA) on or off: the run's test scores and best checkpoint
    /// would change weights midway (on: an average starting from a late epoch's weights; off: the average thrown away, and
    /// the run's later resumes refused it as never trained). Refused, with the setting that resumes it (the refusal of "on"
    /// came after `parnet train` had rewritten the run's files; "off" went on without a word: session 44's defect hunt and
    /// resume audit).</summary>
    internal static void RequireSameEmaUse(LoadedCheckpoint ckpt, Recipe recipe)
    {
        bool on = recipe.EmaDecay > 0;
        if (on == ckpt.Ema is not null) return;
        string setting = SettingNames.Of(nameof(Recipe), nameof(Recipe.EmaDecay));
        throw new InvalidSettingException(setting, names => on
            ? $"{ckpt.Directory}: {names.Given(setting, recipe.EmaDecay)}, but the run trained without an average of its weights (no " +
              $"{Checkpoint.EmaFile} in its checkpoint): resume with {names.Given(setting, 0)}, or start a new run with it"
            : $"{ckpt.Directory}: {names.Given(setting, recipe.EmaDecay)}, but the run averages its weights (its checkpoint's " +
              $"{Checkpoint.EmaFile}; its test scores and best checkpoint are the average's): resume with " +
              $"{names.Given(setting, ckpt.State.Recipe.EmaDecay)}, or start a new run without it");
    }

    /// <summary>A resume that starts past the end of its epoch: the run's training data makes fewer batches than it stopped
    /// after (files deleted since).</summary>
    internal static void RequireStartWithin(int start, int batches, int epoch)
    {
        if (start > batches)
            throw new InvalidDataException($"the run stopped after batch {start} of epoch {epoch + 1}, but its training data now makes " +
                                           $"{batches} batches an epoch: the data set has changed since (its files, or the subset or classes chosen of it); " +
                                           "restore it, or start a new run");
    }

    internal static void RequireEpochsAhead(TrainingState s, int epochs, string directory)
    {
        if (s.Epoch < epochs || (s.Epoch == epochs && s.BatchInEpoch == 0)) return;
        string trained = s.BatchInEpoch == 0 ? $"{s.Epoch} epochs" : $"{s.Epoch} epochs and {s.BatchInEpoch} batches of epoch {s.Epoch + 1}";
        string setting = SettingNames.Of(nameof(Recipe), nameof(Recipe.Epochs));
        int atLeast = s.BatchInEpoch == 0 ? s.Epoch : s.Epoch + 1;
        throw new InvalidSettingException(setting, names =>
            $"{directory}: the run has trained {trained}, more than a recipe of {names.Given(setting, epochs)} holds: resume with " +
            $"{names.Given(setting, atLeast)} to finish it, or more to train further");
    }

    /// <summary>
    /// The batch to resume an interrupted epoch at with this run's process count: every process's batch k covers
    /// the same positions of the epoch's order for any count (rank-strided shards), so the images done so far are
    /// the first (batches x processes x batch) positions; resuming elsewhere than at a whole global batch would skip
    /// or repeat images, and is refused. An epoch trained to its end and awaiting its evaluation is at its end in any
    /// count: <paramref name="batchesPerEpoch"/>, this run's (its last batch was partial: counted as whole steps, it named
    /// more images than the epoch holds, and the resume was refused; a defect hunt of session 44).
    /// </summary>
    internal static int ResumeBatchInEpoch(TrainingState s, int processes, int batchSize, int batchesPerEpoch, string directory)
    {
        if (s.EvaluationPending) return batchesPerEpoch;
        if (s.BatchInEpoch == 0 || (s.Processes == processes && s.Recipe.BatchSize == batchSize)) return s.BatchInEpoch;
        long done = (long)s.BatchInEpoch * s.Processes * s.Recipe.BatchSize, perStep = (long)processes * batchSize;
        if (done % perStep != 0)
        {
            // the advice had named the process count alone ("resume with 2 processes" to a run of 2 processes given another
            // batch, or a count "that divides it" that did: MPI audit, session 43): a global batch that divides the images done,
            // the one it stopped with, and this process count at the same global batch where that is whole
            long global = (long)s.Processes * s.Recipe.BatchSize;
            string sameGlobal = processes != s.Processes && global % processes == 0
                ? $", or {Processes(processes)} x batch {global / processes} (the same global batch)" : "";
            throw new InvalidDataException($"{directory}: the run stopped after {done} images of epoch {s.Epoch + 1} ({Processes(s.Processes)} x batch {s.Recipe.BatchSize}), " +
                                           $"not a whole number of steps of {Processes(processes)} x batch {batchSize}: resume with processes x batch dividing {done}: " +
                                           $"{Processes(s.Processes)} x batch {s.Recipe.BatchSize} as it stopped{sameGlobal}");
        }
        return (int)(done / perStep);
    }
}
