using System.Text.Json;
using System.Text.Json.Nodes;
using ParNet.Data;
using ParNet.Models;
using ParNet.Weights;

namespace ParNet.Export;

/// <summary>
/// What a deployed model needs besides its weights: the model configuration, class names, the data set (which
/// fixes the preprocessing: normalization statistics, grey or RGB) and the input size, as a weights file stores them
/// (<see cref="WeightsMetadata"/>), with where they came from and whether the statistics are a guess. Travels as ONNX
/// metadata_props, safetensors metadata, a sidecar JSON next to a weights file, or is read from a training checkpoint's state.json.
/// </summary>
public sealed record DeploymentInfo : WeightsMetadata
{
    public DeploymentInfo() { }

    /// <summary>What <paramref name="stored"/> says, read from <paramref name="source"/>.</summary>
    public DeploymentInfo(WeightsMetadata stored, string? source) : base(stored) => (Source, ModelSource) = (source, stored.Model is null ? null : source);

    /// <summary>Set by <see cref="Completed"/> when neither a data set nor statistics were stored or given: <see cref="WeightsMetadata.Mean"/>
    /// and <see cref="WeightsMetadata.Std"/> are then a guess (ImageNet's, or 0.5 for a grey model), which a front end should say.</summary>
    public bool StatisticsGuessed { get; init; }
    /// <summary>Where this came from (for messages); not serialized.</summary>
    public string? Source { get; init; }
    /// <summary>Where <see cref="WeightsMetadata.Model"/> came from (a sidecar W.json wins over the file's own metadata: a
    /// model configuration named like the weights, kept beside them, was taken silently; cross-command audit, session 43);
    /// for messages, not serialized.</summary>
    public string? ModelSource { get; init; }

    /// <summary>
    /// The metadata entries (ONNX metadata_props, safetensors __metadata__: <see cref="WeightsMetadata"/>) of what is known,
    /// not of what <see cref="Completed"/> guessed: guessed statistics (<see cref="StatisticsGuessed"/>) and placeholder class
    /// names ("class 0", ...) are left out, so that the file's reader guesses again and says so (they were stored as if
    /// known: `parnet convert` of the authors' ImageNet checkpoint then predicted "class 473" without a warning).
    /// </summary>
    public IEnumerable<KeyValuePair<string, string>> ToMetadata() => (this with
    {
        ClassNames = ClassNames is { } names && !names.SequenceEqual(DatasetInfo.PlaceholderClassNames(names.Count)) ? names : null,
        Mean = StatisticsGuessed ? null : Mean,
        Std = StatisticsGuessed ? null : Std,
    }).ToEntries();

    public static DeploymentInfo FromMetadata(IReadOnlyDictionary<string, string> metadata, string? source = null)
    {
        var info = new DeploymentInfo(WeightsMetadata.FromEntries(metadata, source), source);
        // three means on a Fashion-MNIST model were averaged over its one channel, without a word: its top prediction fell
        // from 93% to 54% (an export audit of session 48)
        if (KnownDataset(info.Dataset) is { } known && info.Mean is { } mean && mean.Length != known.Mean.Length)
            throw new InvalidDataException($"{source ?? "model metadata"}: {WeightsMetadata.KeyMean} has {mean.Length} value(s); {known.Name} images have " +
                                           $"{known.Mean.Length} channel(s)");
        return info;
    }

    /// <summary>Fields of <paramref name="fallback"/> fill the ones this record leaves null.</summary>
    public DeploymentInfo OrElse(DeploymentInfo? fallback) => fallback is null ? this : new DeploymentInfo
    {
        Model = Model ?? fallback.Model,
        ClassNames = ClassNames ?? fallback.ClassNames,
        Dataset = Dataset ?? fallback.Dataset,
        Mean = Mean ?? fallback.Mean,
        Std = Std ?? fallback.Std,
        ImageSize = ImageSize ?? fallback.ImageSize,
        Fused = Fused ?? fallback.Fused,
        Source = Source ?? fallback.Source,
        ModelSource = Model is not null ? ModelSource : fallback.ModelSource,
    };

    /// <summary>The names <see cref="KnownDataset"/> knows (besides their other spellings): the data sets whose class names and
    /// statistics `parnet predict`, `serve` and `export --dataset` can fill in.</summary>
    public static IReadOnlyList<string> KnownDatasetNames { get; } = ["fashion-mnist", "mnist", "cifar10", "cifar100", "imagenet"];

    /// <summary>The ids in <paramref name="dataset"/> (a known data set, or an image folder in <paramref name="dataDir"/>:
    /// its <see cref="DataPipelines.FolderClassNames"/>) of <paramref name="names"/> when they are fewer than its classes and
    /// every one is among them, once: the classes weights trained on some of them (`--classes 5-9`) store, as their data is
    /// read again (eval, int8 calibration); null otherwise.</summary>
    public static int[]? ClassIdsIn(string dataset, IReadOnlyList<string>? names, string? dataDir = null)
    {
        if (names is null) return null;
        // a folder's own class list: a folder model of some of its classes was refused by eval --weights for its class
        // count (an audit of fine-tuning and eval, session 45)
        if (DataPipelines.IsFolderLayout(dataset) && dataDir is not null && IdsIn(DataPipelines.FolderClassNames(dataDir), names) is { } inFolder)
            return inFolder;
        return KnownDataset(dataset) is { } known ? IdsIn(known.ClassNames, names) : null;
    }

    static int[]? IdsIn(IReadOnlyList<string> classes, IReadOnlyList<string> names)
    {
        if (names.Count >= classes.Count) return null;
        var all = classes.ToList();
        var ids = names.Select(name => all.IndexOf(name)).ToArray();
        // every name found, and found once (ImageNet names two classes "crane": no guessing which)
        return ids.All(id => id >= 0) && names.All(name => all.Count(n => n == name) == 1) ? ids : null;
    }

    /// <summary>The data set's statistics and names when the data set is known, under any of its spellings
    /// (<see cref="DataPipelines.CanonicalName"/>: the one table of them, which train and eval read by too).</summary>
    public static DatasetInfo? KnownDataset(string? name) => name is null ? null : DataPipelines.CanonicalName(name) switch
    {
        "fashion-mnist" => DatasetInfo.FashionMnist,
        "mnist" => DatasetInfo.Mnist,
        "cifar10" => DatasetInfo.Cifar10,
        "cifar100" => DatasetInfo.Cifar100,
        "imagenet" => DatasetInfo.ImageNet,
        _ => null,
    };

    /// <summary>
    /// The side <paramref name="model"/> runs these weights at: the stored one, else, for Fashion-MNIST's and MNIST's 28 px
    /// images, the side the pipelines train them at (28 rounded up to the model's input multiple); null otherwise (the
    /// model's natural side, or the caller's choice). Weights saved with their data set and no side (the fine-tuning
    /// sample's) were predicted and served at an ImageNet-layout network's 224: the 28 px content blown up 7x, top-1 69% ->
    /// 15% (a library audit of session 47). Not CIFAR's 32: weights of it are also fine-tuned upsampled. A choice, not a
    /// fact of the file: never stored (<see cref="WeightsMetadata.ImageSize"/> stays what was stored).
    /// </summary>
    public int? SideFor(ModelConfig model) =>
        ImageSize ?? (KnownDataset(Dataset) is { } known && (known == DatasetInfo.FashionMnist || known == DatasetInfo.Mnist) ? PipelineSteps.FashionSide(model) : null);

    /// <summary>With class names, mean and std filled from the data set when it is known, and from the model otherwise.</summary>
    public DeploymentInfo Completed()
    {
        var known = KnownDataset(Dataset);
        var names = ClassNames ?? known?.ClassNames;
        if (names is null && Model is not null) names = DatasetInfo.PlaceholderClassNames(Model.NumClasses);
        bool grey = known?.Mean.Length == 1 || (known is null && Model?.InChannels == 1);
        return this with
        {
            ClassNames = names,
            StatisticsGuessed = Mean is null ? known is null && !DataPipelines.IsFolderLayout(Dataset) : StatisticsGuessed || StoredGuess,
            Mean = Mean ?? known?.Mean ?? (grey ? [0.5f] : DatasetInfo.ImageNetMean),
            Std = Std ?? known?.Std ?? (grey ? [0.5f] : DatasetInfo.ImageNetStd),
        };
    }

    /// <summary>
    /// The guess of an older version, stored as if known: `convert`, `fuse` and `export` before session 36 wrote the guessed
    /// statistics (0.5 for a grey model, ImageNet's for RGB) and "class N" names into files that name no data set, which
    /// were then predicted, served and exported again without the guess's warning (upgrade audit, session 37). Statistics
    /// equal to the guess beside no data set and no real class names are taken for the guess they are.
    /// </summary>
    bool StoredGuess =>
        Dataset is null && Mean is { } mean && Std is { } std
        && (ClassNames is null || ClassNames.SequenceEqual(DatasetInfo.PlaceholderClassNames(ClassNames.Count)))
        && ((mean.SequenceEqual([0.5f]) && std.SequenceEqual([0.5f]))
            || (mean.SequenceEqual(DatasetInfo.ImageNetMean) && std.SequenceEqual(DatasetInfo.ImageNetStd)));

    /// <summary>
    /// <see cref="Completed"/> for <paramref name="model"/>, the model these weights or this graph are; ArgumentException
    /// when the class names are not one per class of it (a sidecar saying imagenet beside a 10-class model named its
    /// logits with ImageNet's first 10 classes). The one check of that count, wherever deployment information enters.
    /// </summary>
    public DeploymentInfo CompletedFor(ModelConfig model)
    {
        var completed = (this with { Model = model }).Completed();
        if (completed.ClassNames is { } names && names.Count != model.NumClasses)
            throw new ArgumentException($"{names.Count} class names{(ClassNames is null && Dataset is { } dataset ? $" (data set {dataset})" : "")} " +
                                        $"for the {model.NumClasses} classes of {model.Name}");
        return completed;
    }

    /// <summary>The dataset parameter of <see cref="WithDataset"/>, as <see cref="Runtime.SettingNames"/> names settings.</summary>
    public const string DatasetSetting = "DeploymentInfo.WithDataset's dataset";

    /// <summary>
    /// This information with the class names and statistics of <paramref name="dataset"/> (a known data set's name, or an
    /// image folder), which must fit <paramref name="model"/>: its class count, and its channels (a grey data set feeds an
    /// RGB model, replicated as in training; a colour one does not feed a grey model). A folder data set keeps the class
    /// names stored here: a folder's classes are its subfolders' names, which nothing but the weights knows; so does the
    /// data set stored here (its names may be a subset's).
    /// <see cref="Runtime.InvalidSettingException"/> (of <see cref="DatasetSetting"/>) for a data set that does not fit.
    /// </summary>
    public DeploymentInfo WithDataset(ModelConfig model, string dataset)
    {
        Runtime.InvalidSettingException Refused(string problem) => new(DatasetSetting, n => $"{n.Given(DatasetSetting, dataset)}{problem}");
        if (KnownDataset(dataset) is null && !DataPipelines.IsFolderLayout(dataset))
            throw Refused($": unknown; known: {string.Join(", ", KnownDatasetNames)}, folder");
        // the data set these weights name already keeps their names too: those of the classes trained on (a model of 5 of
        // Fashion-MNIST's classes given --dataset fashion-mnist was told "10 class names ... for the 5 classes"; an audit of
        // session 45)
        var keptNames = KnownDataset(dataset) is null || dataset == Dataset ? ClassNames : null;
        DeploymentInfo info;
        try { info = (this with { Dataset = dataset, ClassNames = keptNames, Mean = null, Std = null, StatisticsGuessed = false }).CompletedFor(model); }
        catch (ArgumentException e) { throw Refused($": {e.Message}"); }
        if (info.Mean is { Length: > 1 } mean && mean.Length != model.InChannels)
            throw Refused($" has {mean.Length}-channel images; the model takes {model.InChannels}");
        return info;
    }

    // ---- files ----------------------------------------------------------------------------------------------

    /// <summary>Sidecar paths tried for weights W: W.json (W with its extension replaced), then W + ".json".</summary>
    public static IEnumerable<string> SidecarCandidates(string weightsPath) =>
        [Path.ChangeExtension(weightsPath, ".json"), weightsPath + ".json"];

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Writes the sidecar W.json next to a weights file (the format <see cref="ForWeights"/> reads).</summary>
    public void WriteSidecar(string weightsPath)
    {
        var obj = new JsonObject();
        if (Model is not null) obj["model"] = JsonNode.Parse(Model.ToJson());
        if (ClassNames is not null) obj["class_names"] = new JsonArray(ClassNames.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray());
        if (Dataset is not null) obj["dataset"] = Dataset;
        if (Mean is not null) obj["mean"] = new JsonArray(Mean.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
        if (Std is not null) obj["std"] = new JsonArray(Std.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
        if (ImageSize is int size) obj["image_size"] = size;
        if (Fused is bool fused) obj["fused"] = fused;
        File.WriteAllText(Path.ChangeExtension(weightsPath, ".json"), obj.ToJsonString(Indented));
    }

    /// <summary>
    /// Everything known about a weights file, from (first wins, field by field): a sidecar W.json; the safetensors
    /// header's __metadata__ (parnet.* keys); a training checkpoint's state.json in the same folder (model config
    /// and data set of the run). Empty when nothing is found.
    /// </summary>
    public static DeploymentInfo ForWeights(string weightsPath)
    {
        weightsPath = Training.Checkpoint.PathToRead(weightsPath);   // a checkpoint left as NAME.old by an interrupted save
        // here, where every command first reads a weights file: eval and bench with a model given read its metadata before
        // the loader's own check, and waited on a FIFO for ever (final read, session 48)
        if (File.Exists(weightsPath)) Runtime.FileType.RequireRegular(weightsPath, "weights");
        var info = new DeploymentInfo();
        foreach (var sidecar in SidecarCandidates(weightsPath))
            if (File.Exists(sidecar)) { info = info.OrElse(ReadSidecar(sidecar)); break; }
        if (weightsPath.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) && File.Exists(weightsPath))
            info = info.OrElse(FromMetadata(ReadSafetensorsMetadata(weightsPath), weightsPath));
        string state = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(weightsPath))!, Training.Checkpoint.StateFile);
        if (File.Exists(state)) info = info.OrElse(ReadTrainingState(state));
        return info;
    }

    static DeploymentInfo ReadSidecar(string path)
    {
        try
        {
            var root = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new InvalidDataException($"{path}: empty");
            // a plain model configuration: its two required keys, in any case (as --config); the authors' facts file
            // beside their fixture weights has "planes" but "num_blocks", and is not one
            if (new[] { "Planes", "BlocksPerStream" }.All(k => root.Any(kv => kv.Key.Equals(k, StringComparison.OrdinalIgnoreCase))))
                return new DeploymentInfo { Model = ModelConfig.FromJson(root.ToJsonString()), Source = path, ModelSource = path };
            return new DeploymentInfo
            {
                Model = root["model"] is JsonNode model ? ModelConfig.FromJson(model.ToJsonString()) : null,
                ClassNames = root["class_names"]?.Deserialize<string[]>(),
                Dataset = root["dataset"]?.GetValue<string>(),
                Mean = root["mean"]?.Deserialize<float[]>(),
                Std = root["std"]?.Deserialize<float[]>(),
                ImageSize = root["image_size"]?.GetValue<int>(),
                Fused = root["fused"]?.GetValue<bool>(),
                Source = path,
                ModelSource = root["model"] is null ? null : path,
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: not a valid weights sidecar ({e.Message})", e);
        }
    }

    /// <summary>A training checkpoint's state.json: the run's model configuration and the side it trained at; and the data
    /// set and class names the run trained on, from its run.json (RUN/run.json beside RUN/checkpoints/NAME/state.json) where there is one: the
    /// recipe's data set is only its default (`train --dataset folder` or `--classes 5-9` leave it as it was).</summary>
    static DeploymentInfo ReadTrainingState(string path)
    {
        try
        {
            var state = Training.TrainingState.FromJson(File.ReadAllText(path));
            return new DeploymentInfo(Training.RunSettings.DescribeWeights(Training.RunSettings.OfCheckpointFile(path), state.Model, state.Recipe), path);
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: unreadable training state ({e.Message})", e);
        }
    }

    /// <summary>The string map under "__metadata__" in a safetensors header (empty when there is none); the header validated
    /// (<see cref="SafetensorsHeader.Read"/>).</summary>
    public static Dictionary<string, string> ReadSafetensorsMetadata(string path) => SafetensorsHeader.Metadata(SafetensorsHeader.Read(path));
}
