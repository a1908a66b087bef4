using ParNet.Data;
using TorchSharp;
using ParNet.Models;
using ParNet.Weights;
using static TorchSharp.torch;
using ParNet.Runtime;
using ParNet.Distributed;

namespace ParNet.Training;

/// <summary>
/// Supervised training with SGD on an <see cref="IBatchSource"/>: <see cref="Run"/> resumes or starts,
/// loops <see cref="TrainOneEpoch"/> and <see cref="Evaluator.Evaluate"/>, logs and checkpoints each epoch.
/// Seed torch (<see cref="Seed"/>) before building the model for reproducible initialization.
/// </summary>
public sealed partial class Trainer : IDisposable
{
    readonly ImageClassifier _model;
    readonly IBatchSource _train;
    readonly IBatchSource? _test;
    readonly TrainOptions _o;
    readonly Recipe _r;
    readonly Sgd _optimizer;
    readonly ModelEma? _ema;
    readonly MetricsLog? _log;   // rank 0's: one set of logs per run
    readonly FolderLock? _folderLock;   // rank 0's hold of the run folder (FolderLock)
    bool _resumedFinished;   // resumed from a checkpoint of a finished run
    readonly IProcessGroup _group;
    readonly GradientBuckets _gradients;
    ImageClassifier? _evaluatedModel;   // float32: the EMA weights, or a bfloat16 model's, as a checkpoint saves them
    TrainingState _state;
    readonly TrainingClock _clock;
    long _stepsThisProcess;

    public static void Seed(int seed) => manual_seed(seed);

    /// <summary>
    /// Builds a model (random initialization) and puts the global generator back as it was, so that
    /// when a helper model is built (the EMA copy, built at the first evaluation) does not change the
    /// dropout masks that follow: a resumed run builds it at another point than an uninterrupted one.
    /// </summary>
    static ImageClassifier CreateWithoutConsumingRandomness(ModelConfig config) => RandomState.Kept(() => ModelFactory.Create(config));

    public Trainer(ImageClassifier model, IBatchSource train, IBatchSource? test, TrainOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(options.RunDirectory);
        model.ThrowIfDisposed("be trained");
        RequireFits(model.Config, train, training: true);
        if (test is not null) RequireFits(model.Config, test, training: false);
        RequireMoreThanOneValuePerBatchNorm(model, train, options.KeepInEvalMode, options.SyncBatchNorm && options.Processes.Size > 1);
        RequireStepFits(model, train, options.BFloat16, options.Processes.ProcessesOnThisMachine, TrainsNothing(options.ResumeFrom?.State, options.Recipe.Epochs, options.ScheduleBudget));
        _model = model;
        _group = options.Processes;
        _train = train;
        _test = test;
        _o = options;
        _r = options.Recipe.Validate();
        _clock = new TrainingClock(options.Clock, options.TimeBudget, options.ScheduleBudget, options.StopAfterSteps);
        if (train.BatchSize != _r.BatchSize)
            throw new ArgumentException($"the training data gives batches of {train.BatchSize}, the recipe says {_r.BatchSize}: build the " +
                                        $"loader with LoaderOptions.BatchSize = {_r.BatchSize}, or the recipe with BatchSize = {train.BatchSize}");
        // one process at a time trains into a folder; a new run would replace the checkpoints, metrics and run files of the
        // one there (rank 0 writes them)
        _folderLock = HoldRunFolderOnRoot(options.RunDirectory);
        try
        {
            if (options.ResumeFrom is null) RequireNoRunOnRoot(options.RunDirectory);
            if (model.EnsureCorrectConvolutions() is { } why) options.Progress?.Report(new MessageEvent(why));
            TrainingPreparation.Model(_model, options.BFloat16, options.ChannelsLast);
            TrainMode();
            _optimizer = new Sgd(_model.named_parameters(), _r.Momentum, _r.Nesterov, _r.WeightDecay, _r.NoDecayBnBias, masterWeights: options.BFloat16,
                lrScale: name => name.StartsWith(ImageClassifier.ClassifierKeyPrefix, StringComparison.Ordinal) ? 1.0 : _r.BackboneLrScale);
            _ema = _r.EmaDecay > 0 ? new ModelEma(_model, _r.EmaDecay) : null;
            _state = new TrainingState { Recipe = _r, Model = model.Config, BFloat16 = options.BFloat16 };
            if (options.ResumeFrom is { } ckpt) Restore(ckpt);
            // every process starts from rank 0's weights, buffers, optimizer and EMA state, and averages its gradients with the others'
            DataParallel.BroadcastFromRoot(_group, _model.state_dict().Concat(_optimizer.StateDict()).Concat(
                _ema?.StateDict().Select(kv => KeyValuePair.Create("ema." + kv.Key, kv.Value)) ?? []));
            _gradients = new GradientBuckets(_model.parameters(), _group);
            _clock.StartRun(_state.WallSeconds);
            _log = _group.Rank == 0 ? new MetricsLog(options.RunDirectory, options.ResumeFrom is null ? null : _state.GlobalStep) : null;
            if (options.ResumeFrom is not null) _log?.Resumed(_state.History);   // the logs as far as the checkpoint, not an epoch ahead
        }
        catch
        {
            _folderLock?.Dispose();   // the folder is not this process's to hold when it trains nothing there
            throw;
        }
    }

    /// <summary>The model in training mode, except the modules the options keep in eval mode (frozen BatchNorms).</summary>
    void TrainMode()
    {
        _model.train();
        foreach (var m in _o.KeepInEvalMode) m.eval();
    }

    public TrainingState State => _state;
    public Sgd Optimizer => _optimizer;
    public string LastPath => Checkpoint.In(_o.RunDirectory, Checkpoint.Last);
    public string BestPath => Checkpoint.In(_o.RunDirectory, Checkpoint.Best);

    /// <summary>Images per optimizer step over all processes: what the recipe's linear LR scaling uses.</summary>
    public int GlobalBatchSize => _train.BatchSize * _group.Size;

    /// <summary>Float32 bytes of gradients each process all-reduces per step (0 work with one process).</summary>
    public long GradientBytesPerStep => _gradients.BytesPerStep;

    /// <summary>Steps after which every process's weights were compared with rank 0's and found bit-identical (<see cref="TrainOptions.CheckReplicas"/>).</summary>
    public long ReplicaChecks { get; private set; }

    /// <summary>Time and bytes this process has spent in collectives.</summary>
    public CommunicationStats Communication => _group.Stats;

    /// <summary>
    /// Trains until the recipe's last epoch or the end of the schedule budget (both <see cref="StopReason.Completed"/>),
    /// an interruption (cancel), or the time budget. The model is left in training mode (its BatchNorms normalize by the
    /// batch, its dropouts drop) with channels-last weights: call its <c>eval()</c> before predicting with it directly.
    /// </summary>
    public TrainResult Run(CancellationToken cancel = default)
    {
        _clock.StartRun(_state.WallSeconds);
        int epochs = _r.Epochs;
        if (_state.Epoch >= epochs)
        {
            Report(new AlreadyTrainedEvent(epochs));
            if (_resumedFinished)   // its checkpoint stays as it was: nothing trained, nothing to save (TrainsNothing)
                return new TrainResult(StopReason.Completed, _state = _state with { Finished = true }, LastPath, Checkpoint.Locate(BestPath));
        }
        else if (_resumedFinished && ScheduleSpent(_state, _clock.ScheduleBudget) is double budget)
        {
            Report(new ScheduleSpentEvent(budget));
            return new TrainResult(StopReason.Completed, _state = _state with { Finished = true }, LastPath, Checkpoint.Locate(BestPath));   // nothing trained, nothing saved
        }
        else if (_state.EvaluationPending)
            Report(new MessageEvent($"resuming at the end of epoch {_state.Epoch + 1}, step {_state.GlobalStep}: its training was saved, its evaluation comes now"));
        else if (_state.Epoch > 0 || _state.BatchInEpoch > 0)
            Report(new MessageEvent(_state.BatchInEpoch == 0
                ? $"resuming at the start of epoch {_state.Epoch + 1}, step {_state.GlobalStep}{GlobalBatchChange()}"
                : $"resuming in epoch {_state.Epoch + 1} after its batch {_state.BatchInEpoch} of {BatchesPerEpoch}, step {_state.GlobalStep}{GlobalBatchChange()}"));
        if (_state.Epoch < epochs)
            foreach (var warning in ScheduleWarningEvent.For(_r, GlobalBatchSize)) Report(warning);
        bool budgetEndedRun = false;   // the schedule budget, not the last epoch's end, ended it
        while (_state.Epoch < epochs)
        {
            int epoch = _state.Epoch;
            double position = SchedulePosition(TrainedEpochs, AgreedWallSeconds());
            if (position >= epochs)
            {
                // resumed after the schedule budget had already ended the run, or after the last epoch's evaluation failed:
                // close its epoch, train nothing more; the budget ended it only where epochs were left (the second said
                // "the schedule budget ( min) ended ..." of a run without one: a defect hunt of session 44)
                budgetEndedRun = TrainedEpochs < epochs;
                if (_state.BatchInEpoch > 0) FinishEpoch(epoch, position, last: true);
                break;
            }
            var outcome = TrainOneEpoch(epoch, cancel);
            if (outcome == StopReason.Completed)
            {
                FinishEpoch(epoch, SchedulePosition(TrainedEpochs - 1e-9), last: true);
                budgetEndedRun = true;
                break;
            }
            if (outcome is not null)
            {
                SaveLast();
                return new TrainResult(outcome.Value, _state, LastPath, Checkpoint.Locate(BestPath));
            }
            // the schedule budget may have ended the run with this epoch's last batch: then its evaluation is the last
            double wall = AgreedWallSeconds();
            bool budgetEnded = _clock.ScheduleBudgetEnded(epoch + 1, epochs, wall);
            FinishEpoch(epoch, SchedulePosition(epoch + 1 - 1e-9, wall), last: budgetEnded);
            if (budgetEnded)
            {
                budgetEndedRun = epoch + 1 < epochs;
                break;
            }
        }
        AdoptBestCheckpointAhead();
        _state = _state with { Finished = true };
        SaveLast();
        return new TrainResult(StopReason.Completed, _state, LastPath, Checkpoint.Locate(BestPath)) { ScheduleBudgetEnded = budgetEndedRun };
    }

    /// <summary>Steps per epoch: this process's batches (every process of a data-parallel run takes as many).</summary>
    public int BatchesPerEpoch => _train.BatchesPerEpoch;   // the source's: a loader that drops its last batch has one fewer

    /// <summary>Epochs trained so far, fractional: epoch 3.5 is half-way through the fourth.</summary>
    double TrainedEpochs => _state.Epoch + (double)_state.BatchInEpoch / BatchesPerEpoch;

    /// <summary>Where the LR schedule stands, in epochs, when training has reached this epoch position.
    /// <paramref name="wallSeconds"/>: the run's time as the processes agreed on it (default: this process's clock, for reports).</summary>
    double SchedulePosition(double epochPosition, double? wallSeconds = null) => _clock.SchedulePosition(epochPosition, _r.Epochs, wallSeconds);

    /// <summary>The run's wall time, the same number on every process (their clocks' mean): decisions made from it agree.</summary>
    double AgreedWallSeconds() => _group.AllGather(_clock.WallSeconds).Average();

    /// <summary>
    /// One pass over the training data from <see cref="TrainingState.BatchInEpoch"/> on. Returns null when the
    /// epoch completed, <see cref="StopReason.Completed"/> when the schedule budget ended the run in this epoch
    /// (its last epoch then), or why it stopped early (the state then records the position for a resume).
    /// </summary>
    public StopReason? TrainOneEpoch(int epoch, CancellationToken cancel)
    {
        int batches = BatchesPerEpoch;
        int start = _state.BatchInEpoch;
        RequireStartWithin(start, batches, epoch);   // a resume on fewer images than the run stopped with
        double lossSum = _state.PartialLossSum;
        long correct = _state.PartialCorrect, seen = _state.PartialSeen, step = _state.GlobalStep;
        _clock.StartEpoch(_state.PartialSeconds);
        int b = start - 1;   // the last batch trained
        StopReason? stop = null;
        TrainMode();
        UnreadableDataException? unreadable = null;
        using var epochBatches = _train.Epoch(epoch, start, CancellationToken.None).GetEnumerator();   // a resumed epoch starts at its batch
        while (true)
        {
            Batch? batch = null;
            InvalidDataException? unreadableHere = null;
            try
            {
                if (!epochBatches.MoveNext()) break;   // every process's shard has as many batches: all end here together
                batch = epochBatches.Current;
            }
            catch (InvalidDataException e) { unreadableHere = e; }   // said at the step's agreement, so that every process stops there
            using (batch)
            {
                (stop, double wall, bool anyUnreadable) = DataParallel.AgreeOnStep(_group, _clock.StopBeforeStep(cancel.IsCancellationRequested, _stepsThisProcess),
                                                                                   _clock.WallSeconds, unreadableHere is not null);
                if (anyUnreadable)
                {
                    (unreadable, stop) = (DataParallel.AgreeOnUnreadable(_group, unreadableHere), null);
                    break;
                }
                if (stop is not null) break;
                var readBatch = batch!;   // read here: a process that could not read its batch has stopped every process above
                if (b >= start && _clock.ScheduleBudgetEnded(epoch + (b + 1.0) / batches, _r.Epochs, wall))
                {
                    stop = StopReason.Completed;   // the schedule budget has ended the run after the last batch trained
                    break;
                }
                b++;
                double lr = LrSchedules.At(_r, SchedulePosition(epoch + (double)b / batches, wall), GlobalBatchSize);
                if (step == 0) _log?.SampleImages(readBatch.Images, step);   // what the network sees, once per run
                var (loss, hits, count) = TrainStep(readBatch, lr, epoch, b);
                step++;
                _stepsThisProcess++;
                lossSum += loss * count;   // loss, hits and images of all processes
                correct += hits;
                seen += count;
                double rate = seen / Math.Max(1e-9, _clock.PartialEpochSeconds);
                if (_o.StepLogEvery > 0 && step % _o.StepLogEvery == 0) _log?.Step(step, loss, lr);
                double remainingImages = ((batches - b - 1) * (double)_train.BatchSize + (_r.Epochs - epoch - 1) * Math.Min((double)batches * _train.BatchSize, _train.Count)) * _group.Size;   // images an epoch trains: DropLast trains fewer
                Report(new StepEvent(epoch + 1, _r.Epochs, b + 1, batches, lossSum / seen, (double)correct / seen, loss, lr, rate,
                    _clock.Eta(remainingImages / Math.Max(1e-9, rate))));
            }
        }
        _state = _state with
        {
            GlobalStep = step, BatchInEpoch = stop is null && unreadable is null ? 0 : b + 1,
            PartialLossSum = lossSum, PartialCorrect = correct, PartialSeen = seen,
            PartialSeconds = _clock.PartialEpochSeconds,
            ElapsedSeconds = _state.ElapsedSeconds + _clock.EpochSeconds,
            EmaUpdates = _ema?.Updates ?? 0,
        };
        if (unreadable is not null) StopAtUnreadableImage(unreadable, epoch);
        return stop;
    }

    /// <summary>
    /// Forward, loss, backward, gradients averaged over the processes, SGD update (and EMA); returns the mean loss,
    /// the correct predictions and the images of the step over all processes.
    /// </summary>
    (double Loss, long Correct, long Count) TrainStep(Batch batch, double lr, int epoch, int batchIndex)
    {
        using var scope = NewDisposeScope();
        var images = TrainingPreparation.Input(batch.Images, _o.BFloat16, _o.ChannelsLast);
        Tensor logits;
        using (_o.SyncBatchNorm && _group.Size > 1 ? BatchNorms.SynchronizeStatistics(t => DifferentiableSum.Of(t, _group)) : null)
            logits = _model.call(images);
        var loss = Losses.CrossEntropy(logits, batch.Labels, _r.LabelSmoothing);
        double value = loss.item<float>();
        long localHits;
        using (no_grad()) localHits = logits.argmax(1).eq(batch.Labels).sum().item<long>();
        // one all-reduce: every process learns the others' losses, so a NaN anywhere stops all with one message
        var (meanLoss, hits, count, nonFinite) = DataParallel.Step(_group, value, localHits, batch.Count);
        if (nonFinite.Length > 0)
            throw Diverged($"the loss became {(_group.Size == 1 ? value.ToString() : $"non-finite on rank{(nonFinite.Length > 1 ? "s" : "")} {string.Join(", ", nonFinite)}")} " +
                           $"at epoch {epoch + 1}, batch {batchIndex + 1} (step {_optimizer.Steps + 1}, LR {lr:G4}); training stopped");
        _optimizer.ZeroGrad();
        loss.backward();
        _gradients.Average();
        using (no_grad())
        {
            // a finite loss can still come with NaN/inf gradients: never let them reach the weights
            var norms = _model.parameters().Select(p => p.grad).Where(g => g is not null).Select(g => g!.abs().max().to(ScalarType.Float32)).ToArray();
            if (norms.Length > 0 && !stack(norms).isfinite().all().item<bool>())
                throw Diverged($"non-finite gradients at epoch {epoch + 1}, batch {batchIndex + 1} (step {_optimizer.Steps + 1}, LR {lr:G4}, " +
                               $"loss {value:G4}); training stopped before the update");
        }
        _optimizer.LearningRate = lr;
        _optimizer.Step();
        _ema?.Update(_model);
        if (_o.CheckReplicas && DataParallel.RanksWithOtherWeights(_group, _model) is { Length: > 0 } differing)
            throw new InvalidOperationException($"after step {_optimizer.Steps} rank{(differing.Length > 1 ? "s" : "")} {string.Join(", ", differing)} hold{(differing.Length > 1 ? "" : "s")} other weights than rank 0");
        if (_o.CheckReplicas) ReplicaChecks++;
        return (meanLoss, hits, count);
    }

    /// <summary>Evaluates (when due), logs and checkpoints an epoch; <paramref name="position"/>: the schedule's at its end.</summary>
    void FinishEpoch(int epoch, double position, bool last = false)
    {
        int epochs = _r.Epochs;
        EvalResult? eval = null;
        AverageRunningStatistics();
        RequireFiniteWeights(epoch);
        if (_test is not null && ((epoch + 1) % Math.Max(1, _o.EvalEvery) == 0 || epoch + 1 == epochs || last))
        {
            eval = EvaluateOrSaveTheEpoch(epoch);
            if (eval.Count > 0 && !double.IsFinite(eval.Loss))   // no test image: NaN, not a divergence
                throw Diverged($"the test loss became {eval.Loss} after epoch {epoch + 1}; training stopped before saving the epoch");
        }
        double lr = LrSchedules.At(_r, Math.Min(position, epochs - 1e-9), GlobalBatchSize);
        var m = new EpochMetrics
        {
            Epoch = epoch + 1,
            Lr = lr,
            TrainLoss = _state.PartialLossSum / Math.Max(1, _state.PartialSeen),
            TrainAccuracy = (double)_state.PartialCorrect / Math.Max(1, _state.PartialSeen),
            TestLoss = eval?.Loss, TestAccuracy = eval?.Top1, TestTop5 = eval is { Top5: var t5 } && double.IsFinite(t5) ? t5 : null,
            EpochSeconds = _state.PartialSeconds,
            ImagesPerSecond = _state.PartialSeen / Math.Max(1e-9, _state.PartialSeconds),
            ElapsedSeconds = _state.ElapsedSeconds,
            RssMiB = MachineMemory.ResidentMiB(),
        };
        var (best, bestAccuracy, bestEpoch) = JudgeEpoch(epoch + 1, eval?.Top1);
        var history = new List<EpochMetrics>(_state.History) { m };
        _state = _state with
        {
            Epoch = epoch + 1, BatchInEpoch = 0, EvaluationPending = false, PartialLossSum = 0, PartialCorrect = 0, PartialSeen = 0, PartialSeconds = 0,
            History = history, BestAccuracy = bestAccuracy, BestEpoch = bestEpoch,
        };
        _log?.Epoch(m, history);
        _log?.WeightHistograms(_model, epoch + 1);
        SaveLast(alsoBest: best);
        Report(new EpochEvent(m, epochs, best));
    }

    /// <summary>
    /// Every parameter and buffer of the model (and of the EMA) finite at an epoch's end: a finite training loss and
    /// finite gradients can still leave BatchNorm's running statistics infinite (an LR far too high), and a checkpoint of
    /// them would be saved as the last good one. The processes agree on it (one small all-reduce), so that none goes on
    /// into the evaluation's collectives while another stops.
    /// </summary>
    void RequireFiniteWeights(int epoch)
    {
        using var scope = NewDisposeScope();
        var tensors = _model.state_dict().Concat(_ema?.StateDict().Select(kv => KeyValuePair.Create("EMA " + kv.Key, kv.Value)) ?? [])
            .Where(kv => kv.Value.is_floating_point()).ToList();
        bool[] finite = tensors.Count == 0 ? [] : stack(tensors.Select(kv => kv.Value.isfinite().all()).ToArray()).data<bool>().ToArray();
        var bad = tensors.Where((_, i) => !finite[i]).Select(kv => kv.Key).ToList();
        int[] ranks = _group.RanksWhere(bad.Count > 0);
        if (ranks.Length == 0) return;
        string where = _group.Size == 1 ? "" : $" on rank{(ranks.Length > 1 ? "s" : "")} {string.Join(", ", ranks)}";
        throw Diverged(bad.Count > 0
            ? $"{bad.Count} tensor{(bad.Count > 1 ? "s" : "")} of the weights became non-finite during epoch {epoch + 1}{where} " +
              $"({string.Join(", ", bad.Take(3))}{(bad.Count > 3 ? ", ..." : "")}); training stopped before saving the epoch"
            : $"the weights became non-finite during epoch {epoch + 1}{where}; training stopped before saving the epoch");
    }

    /// <summary>A diverged run's stop: what happened, where the last good checkpoint is, and what to change.</summary>
    TrainingDivergedException Diverged(string what) =>
        new(names => $"{what}; the last good checkpoint is {Checkpoint.Locate(LastPath) ?? "(none yet)"}. " +
                     $"Try a lower {names.Name(SettingNames.Of(nameof(Recipe), nameof(Recipe.Lr)))} " +
                     $"or more {names.Name(SettingNames.Of(nameof(Recipe), nameof(Recipe.WarmupEpochs)))}.");

    /// <summary>
    /// Evaluates the weights training would ship, in float32 as a checkpoint saves them: the EMA weights when EMA is on, else
    /// the model's (a bfloat16 model's converted); with several
    /// processes each evaluates its shard of the test data and the counts are summed. An image that cannot be read on any
    /// process is an <see cref="UnreadableDataException"/> on every process (with one process: the decoder's words). The
    /// processes agree on that after their shards: one that met the file waits for the others' evaluations there, which
    /// the collective timeout bounds (MPI's watch ends the job past it, as for any wait).
    /// </summary>
    public EvalResult Evaluate(int epoch)
    {
        EvalResult? here = null;
        InvalidDataException? unreadable = null;
        try { here = EvaluateHere(epoch); }
        catch (InvalidDataException e) { unreadable = e; }
        if (DataParallel.AgreeOnUnreadable(_group, unreadable) is { } agreed) throw agreed;
        return DataParallel.Sum(_group, here!);
    }

    EvalResult EvaluateHere(int epoch)
    {
        if (_test is null) throw new InvalidOperationException("no evaluation data");
        int classes = _model.Config.NumClasses;
        Action<int, int> onBatch = (b, n) => Report(new EvalProgressEvent(epoch, b, n));
        if (_ema is null && !_o.BFloat16) return Evaluator.Evaluate(_model, _test, classes, onBatch: onBatch);
        // the weights a checkpoint saves, in float32, as `eval` of the checkpoint scores them: the EMA average, or a bfloat16
        // model's weights (evaluated in bfloat16 they scored up to 2 points of 200 test images apart from what eval of the
        // checkpoint reported, while an EMA run's scores agreed: an audit of fine-tuning, session 45)
        _evaluatedModel ??= CreateWithoutConsumingRandomness(_model.Config);
        StateDict.Load(_evaluatedModel, _ema?.StateDict() ?? _model.state_dict(), strict: true, what: _ema is null ? "weights" : "EMA weights");
        return Evaluator.Evaluate(_evaluatedModel, _test, classes, onBatch: onBatch);
    }

    void AverageRunningStatistics() => DataParallel.AverageRunningStatistics(_group, _model.state_dict().Concat(
        _ema?.StateDict().Select(kv => KeyValuePair.Create("ema." + kv.Key, kv.Value)) ?? []));

    void Report(TrainEvent e) => _o.Progress?.Report(e);

    public void Dispose()
    {
        _log?.Dispose();
        _optimizer.Dispose();
        _ema?.Dispose();
        _evaluatedModel?.Dispose();
        _folderLock?.Dispose();   // last: the logs are written into the folder until here
    }
}
