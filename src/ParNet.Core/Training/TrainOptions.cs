using ParNet.Models;
using ParNet.Runtime;

namespace ParNet.Training;

public enum StopReason { Completed, Interrupted, TimeBudget }

/// <summary>A NaN or infinite loss or gradient: the run stops, the last good checkpoint is left as it was. The message may
/// advise settings to change, named in the API's terms; a front end words it with its own names (<see cref="WordedWith"/>).</summary>
public sealed class TrainingDivergedException : Exception, INamesSettings
{
    readonly Func<SettingNames, string> _describe;

    /// <param name="describe">the message, given what to call the settings it names (called each time it is read)</param>
    public TrainingDivergedException(Func<SettingNames, string> describe) => _describe = describe;

    /// <summary>A message that names no setting.</summary>
    public TrainingDivergedException(string message) : this(_ => message) { }

    public override string Message => _describe(SettingNames.Api);

    public string WordedWith(SettingNames names) => _describe(names);
}

/// <summary>An image of the training or test data could not be read (a corrupt or truncated file): the run stopped and saved
/// what it had trained (<see cref="Trainer"/>). Every process of a data-parallel run throws it alike, at the same step, with
/// the failing process's words (<see cref="DataParallel.AgreeOnUnreadable"/>): a front end says it once.</summary>
public sealed class UnreadableDataException(string message, Exception? inner) : IOException(message, inner);

/// <summary>What a <see cref="Trainer"/> run ended with: why, its state, and its checkpoints.</summary>
public sealed record TrainResult(StopReason Reason, TrainingState State, string LastCheckpoint, string? BestCheckpoint)
{
    /// <summary><see cref="StopReason.Completed"/> by the schedule budget, before the recipe's last epoch had ended: the LR was
    /// annealed by the clock. (Told apart by the trainer: a count of steps could not, once a resume under another process count
    /// or batch had changed the steps per epoch: MPI audit, session 43.)</summary>
    public bool ScheduleBudgetEnded { get; init; }
}

/// <summary>How a <see cref="Trainer"/> runs: the recipe, where it writes, its budgets and numeric formats.</summary>
public sealed record TrainOptions
{
    public required Recipe Recipe { get; init; }
    /// <summary>Run folder: checkpoints/, metrics.csv, tensorboard/, *.png.</summary>
    public required string RunDirectory { get; init; }
    /// <summary>Stop (saving a resumable checkpoint) once this much training time has passed in this process (null: no limit).</summary>
    public TimeSpan? TimeBudget { get; init; }
    /// <summary>
    /// Fit the LR schedule into this much wall time of the run (training, evaluation and checkpoints, resumes
    /// included; a resumed run keeps the budget it was started with unless given another): the schedule stands at
    /// the epoch position or at the fraction of this time used, whichever is further along, so a machine too slow
    /// for the recipe's epochs still anneals the LR to its end and the run ends early but complete ("budgeted
    /// training", Li, Yumer and Ramanan, ICLR 2020). On a machine fast enough for the epochs it changes nothing.
    /// </summary>
    public TimeSpan? ScheduleBudget { get; init; }
    /// <summary>Where time comes from (default the system's; tests pass a manual clock).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;
    /// <summary>Model weights and activations in bfloat16; the optimizer keeps float32 master weights (off: float32 is exact).</summary>
    public bool BFloat16 { get; init; }
    /// <summary>Weights and batches in channels_last (see <see cref="ParNet.Runtime.MemoryFormat"/>): same numbers, faster convs (hence on).</summary>
    public bool ChannelsLast { get; init; } = true;
    /// <summary>Continue from this checkpoint (see <see cref="Checkpoint.Load"/>); null starts fresh.</summary>
    public LoadedCheckpoint? ResumeFrom { get; init; }
    /// <summary>Evaluate on the test source every this many epochs (and always after the last); 1: every epoch's metrics have a test accuracy.</summary>
    public int EvalEvery { get; init; } = 1;
    /// <summary>Per-step TensorBoard scalars every this many steps (0: none); 20 keeps the event file small yet shows the curve.</summary>
    public int StepLogEvery { get; init; } = 20;
    public IProgress<TrainEvent>? Progress { get; init; }
    /// <summary>Modules kept in eval mode while the rest trains: the BatchNorms of frozen parts (<see cref="Pretrained.Freeze"/>),
    /// whose running statistics must stay those of the pretrained weights.</summary>
    public IReadOnlyList<TorchSharp.torch.nn.Module> KeepInEvalMode { get; init; } = [];
    /// <summary>The processes training data-parallel (each with its shard of the data); one process by default.</summary>
    public ParNet.Distributed.IProcessGroup Processes { get; init; } = new ParNet.Distributed.SingleProcess();
    /// <summary>BatchNorm statistics over the batches of all processes (SyncBatchNorm); off: each process's own, as DDP.</summary>
    public bool SyncBatchNorm { get; init; }
    /// <summary>After every step, compare every process's weights with rank 0's and stop if any differs (a check, off by default: it hashes all weights).</summary>
    public bool CheckReplicas { get; init; }
    /// <summary>What the checkpoints' weights files (model.safetensors, ema.safetensors) say of themselves in their safetensors
    /// metadata (the model configuration, data set, class names and side), so that a file copied out of its run still runs
    /// without --model and --dataset (state.json and run.json say it only beside it); null: what the trainer knows (the model's
    /// configuration, the training data's class names and side). <see cref="TrainingRun"/> sets it, with the data set.</summary>
    public ParNet.Weights.WeightsMetadata? WeightsMetadata { get; init; }
    /// <summary>Test hook: stop as if interrupted once this many steps have run in this process.</summary>
    public long? StopAfterSteps { get; init; }
    /// <summary>Run once, before the run's first checkpoint is written (rank 0): <see cref="TrainingRun"/> writes a resumed
    /// run's files there, so that they change only with a checkpoint trained under them.</summary>
    internal Action? BeforeFirstCheckpoint { get; init; }
}
