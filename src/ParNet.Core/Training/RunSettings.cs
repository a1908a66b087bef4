using System.Text.Json;
using ParNet.Data;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Weights;

namespace ParNet.Training;

/// <summary>
/// How a run was started beyond its recipe and model: which data, which part of it, how often it is evaluated, the
/// tensor layout. Kept in RUN/run.json so that `--resume` continues with the options the run was started with
/// (a run on 200 images per class must not resume on all 60,000), unless they are given again.
/// </summary>
public sealed record RunSettings
{
    public const string FileName = "run.json";

    public required string Dataset { get; init; }
    /// <summary>As given (null: the data set's default location), made absolute so a resume from elsewhere finds it.</summary>
    public string? DataDirectory { get; init; }
    /// <summary>Where the data set's default location was found when the run last started (for the record, and to warn a resume
    /// that finds it elsewhere: data/fashion-mnist under the working folder comes before the system copy); null with a
    /// <see cref="DataDirectory"/> given.</summary>
    public string? DataFolderFound { get; init; }
    /// <summary>Only these classes of the data set, relabeled 0..k-1 (null: all).</summary>
    public IReadOnlyList<int>? Classes { get; init; }
    public int? SubsetPerClass { get; init; }
    public int? TestSubsetPerClass { get; init; }
    public int EvalEvery { get; init; } = 1;
    public bool ChannelsLast { get; init; } = true;
    public bool BFloat16 { get; init; }
    /// <summary>Torch threads per process as given (--threads; null: the machine's cores shared among the processes on it),
    /// so that a resume keeps what the run was started with.</summary>
    public int? Threads { get; init; }
    /// <summary>Fine-tuning: the weights the backbone started from (for the record; a resume continues from the checkpoint).</summary>
    public string? Pretrained { get; init; }
    public bool PretrainedEma { get; init; }
    /// <summary>What the run does not train; re-applied on resume.</summary>
    public FreezeScope Freeze { get; init; }
    /// <summary>Every BatchNorm's running statistics frozen (--freeze-bn); re-applied on resume.</summary>
    public bool FreezeBatchNorm { get; init; }
    /// <summary>BatchNorm statistics over the batches of all processes (SyncBatchNorm, --sync-bn) rather than each process's
    /// own; re-applied on resume (a resume dropped it without a word: MPI audit, session 43). One process: its batch is all.</summary>
    public bool SyncBatchNorm { get; init; }
    /// <summary>The training data's classes in label order: evaluation data must have the same ones.</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    /// <summary>
    /// What a run's weights files say of themselves (<see cref="WeightsMetadata"/>): the model, the run's data set (the
    /// recipe's when <paramref name="run"/> is null) and class names, and the side it trains at. One definition for the
    /// checkpoints that write it (<see cref="TrainingRun"/>, the studies' cells) and for reading a checkpoint's state.json and
    /// run.json back as deployment information (Export.DeploymentInfo.ForWeights).
    /// </summary>
    public static WeightsMetadata DescribeWeights(RunSettings? run, ModelConfig model, Recipe recipe)
    {
        string dataset = run?.Dataset ?? recipe.Dataset;
        return new WeightsMetadata
        {
            Model = model, Dataset = dataset, ClassNames = run?.ClassNames,
            ImageSize = DataPipelines.TrainingSide(dataset, model, recipe.Augmentation()),
        };
    }

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    public void Save(string runDirectory) => AtomicFile.WriteAllText(Path.Combine(runDirectory, FileName), JsonSerializer.Serialize(this, Json));

    /// <summary>The settings of RUN for a file in RUN/checkpoints/NAME/ (a checkpoint's weights or its state.json); null for a
    /// file elsewhere, or a run folder without run.json.</summary>
    public static RunSettings? OfCheckpointFile(string path) =>
        Directory.GetParent(Path.GetFullPath(path))?.Parent is { Name: Checkpoint.FolderName, Parent: { } run } ? Load(run.FullName) : null;

    /// <summary>The settings in <paramref name="runDirectory"/>; null for a run folder written before they were kept.
    /// InvalidDataException naming the file when it cannot be read.</summary>
    public static RunSettings? Load(string runDirectory)
    {
        string path = Path.Combine(runDirectory, FileName);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<RunSettings>(File.ReadAllText(path), Json) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: unreadable run settings ({e.Message})", e); }
    }
}
