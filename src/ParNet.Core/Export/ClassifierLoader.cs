using ParNet.Fusion;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Training;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Export;

/// <summary>
/// The one weights loader of every command that takes weights (forward, eval, fuse, export, predict, bench): the
/// configuration from the caller or from the weights' metadata (<see cref="DeploymentInfo.ForWeights"/>), trained
/// or fused weights recognized by their keys (fused files hold `rbr_reparam` convs), in the <see cref="NetworkForm"/> asked for.
/// Returned in eval mode.
/// </summary>
public static class ClassifierLoader
{
    static bool Fuses(NetworkForm form, ModelConfig config) =>
        form == NetworkForm.Fused || form == NetworkForm.FusedWhereFusable && config.BlockType == BlockType.RepVggSse;

    /// <summary>The seed of <see cref="RandomlyInitialized"/>: fixed, so two runs on an untrained model see the same weights.</summary>
    public const int RandomInitializationSeed = 0;

    /// <summary>A loaded model; <paramref name="FusedFile"/>: the file held fused weights (not fused here).</summary>
    public sealed record Loaded(ImageClassifier Model, DeploymentInfo Info, bool FusedFile);

    public static bool HasFusedKeys(IEnumerable<string> keys) => keys.Any(ParNetFuser.IsFusedKey);

    /// <param name="config">null: the configuration stored with the weights (sidecar, metadata, checkpoint state)</param>
    /// <param name="form">the form to load in (<see cref="NetworkForm.Fused"/>: re-parameterize trained weights; a fused
    /// file stays fused in every form but <see cref="NetworkForm.Training"/>, which refuses it)</param>
    public static (ImageClassifier Model, DeploymentInfo Info) Load(string weightsPath, ModelConfig? config, NetworkForm form,
                                                                    CheckpointWeights pick = CheckpointWeights.Model)
    {
        var loaded = LoadWeights(weightsPath, config, form, pick);
        return (loaded.Model, loaded.Info);
    }

    /// <summary>The config parameter of <see cref="Load"/> and <see cref="LoadWeights"/>,
    /// as <see cref="SettingNames"/> names settings.</summary>
    public const string ConfigSetting = "ClassifierLoader's config";

    /// <summary>The form parameter of <see cref="Load"/>, <see cref="LoadWeights"/> and <see cref="RandomlyInitialized"/>, as <see cref="SettingNames"/>
    /// names settings: refused as Fused for a network without a fused form; the form weights are loaded in before
    /// <see cref="OnnxExporter"/> exports them, which <see cref="Inference.PredictorSource"/>'s refusals of an .onnx file name.</summary>
    public const string FormSetting = "ClassifierLoader.LoadWeights' form";

    /// <summary>
    /// Like <see cref="Load"/>, and says whether the file was fused. Throws <see cref="InvalidSettingException"/> (of
    /// <see cref="ConfigSetting"/>) when no configuration is given nor stored, <see cref="InvalidDataException"/> when the
    /// weights do not fit it, <see cref="InvalidSettingException"/> (of <see cref="FormSetting"/>) when
    /// <paramref name="form"/> asks to fuse a network that has no fused form (<see cref="InvalidDataException"/> for the
    /// training form of fused weights). <paramref name="pick"/>: the model or the EMA weights of a training checkpoint (the authors' released .pth.tar files
    /// hold both).
    /// </summary>
    public static Loaded LoadWeights(string weightsPath, ModelConfig? config, NetworkForm form, CheckpointWeights pick = CheckpointWeights.Model)
    {
        weightsPath = Checkpoint.RequireWeightsFile(weightsPath);   // a checkpoint left as NAME.old read there, as a run's
        (weightsPath, pick) = Checkpoint.WeightsFileFor(weightsPath, pick);
        var info = DeploymentInfo.ForWeights(weightsPath);
        var dict = Checkpoint.ReadWeights(weightsPath, "weights", pick, out var args);
        ParNetFuser.NameAuthorsFusedConvs(dict);
        // the model read from a sidecar W.json beside the weights, which wins over their own metadata: named where they do not fit
        string? sidecar = config is null && info.ModelSource is { } from && DeploymentInfo.SidecarCandidates(weightsPath).Contains(from) ? from : null;
        try
        {
            if (config is null && info.Model is null)
            {
                var (authors, yaml) = AuthorsConfigNamedBy(args, weightsPath) ?? throw NoConfiguration(weightsPath, args);
                (config, info) = (authors, info with { ModelSource = yaml });
            }
            config ??= info.Model!;
            RequireForm(config, form);
            // before the class names stored with them are held to the configuration: a configuration of another class count
            // was told "10 class names ... for the 5 classes", about names the caller never gave
            if (dict.TryGetValue(ImageClassifier.ClassifierKeyPrefix + "weight", out var classifier) && classifier.dim() == 2
                && classifier.shape[0] != config.NumClasses)
                throw StateDict.MismatchError($"{weightsPath} do not match the model {config.Name}, nothing was loaded: its classifier " +
                                               $"has {config.NumClasses} classes, the weights' {classifier.shape[0]} " +
                                               $"({ImageClassifier.ClassifierKeyPrefix}weight [{string.Join(",", classifier.shape)}])");
            DeploymentInfo completed;
            try { completed = info.CompletedFor(config); }
            catch (ArgumentException e) { throw new InvalidDataException($"{weightsPath}: stored with these weights, {e.Message}", e); }
            bool fusedFile = HasFusedKeys(dict.Keys), fuse = Fuses(form, config);
            if (fusedFile && config.BlockType != BlockType.RepVggSse)
                throw new InvalidDataException($"{weightsPath}: fused weights, but {config.Name} is a {config.BlockType} network");
            if (fusedFile && form == NetworkForm.Training)
                throw new InvalidDataException($"{weightsPath}: fused weights, which have no training form (fusion cannot be undone): " +
                                               "give the trained weights they were fused from");
            // built and fused with random draws that the weights then replace: the caller's random sequence is left as it was
            var model = RandomState.Kept(() =>
            {
                ImageClassifier built = fusedFile ? ParNetFuser.CreateFused(config) : ModelFactory.Create(config);
                try
                {
                    StateDict.Load(built, dict, strict: true, what: weightsPath);
                    built.eval();
                    return fuse && !fusedFile ? FuseReplacing(built) : built;
                }
                catch
                {
                    built.Dispose();
                    throw;
                }
            });
            return new Loaded(model, completed with { Fused = fusedFile || fuse }, fusedFile);
        }
        catch (InvalidDataException e) when (sidecar is not null && StateDict.IsMismatch(e))
        {
            throw new InvalidDataException($"{e.Message}; the model is {sidecar}'s, a sidecar beside the weights, which comes before what they store: " +
                                           "move it away, or give the model", e);
        }
        finally
        {
            foreach (var t in dict.Values) t.Dispose();
        }
    }

    /// <summary>
    /// What is stored with a weights file (<see cref="DeploymentInfo.ForWeights"/>), its model configuration completed by
    /// the authors' YAML file a timm checkpoint names beside it when nothing else names one (Model null: none found). What
    /// <see cref="LoadWeights(string, ModelConfig?, NetworkForm, CheckpointWeights)"/> takes when it is given no configuration, for the commands that need it before they load
    /// (bench, eval, train --pretrained).
    /// </summary>
    public static DeploymentInfo Stored(string weightsPath, CheckpointWeights pick = CheckpointWeights.Model)
    {
        weightsPath = Checkpoint.RequireWeightsFile(weightsPath);   // a checkpoint left as NAME.old read there, as a run's
        (weightsPath, pick) = Checkpoint.WeightsFileFor(weightsPath, pick);
        var info = DeploymentInfo.ForWeights(weightsPath);
        if (info.Model is not null) return info;
        var dict = StateDict.Read(weightsPath, "weights", pick, out var args);   // for its args.model_cfg only
        foreach (var t in dict.Values) t.Dispose();
        return AuthorsConfigNamedBy(args, weightsPath) is var (model, yaml) ? info with { Model = model, ModelSource = yaml } : info;
    }

    /// <summary>
    /// The authors' YAML model file a timm checkpoint names in args.model_cfg (e.g. ./models/NAME.yaml, relative to where
    /// their train.py ran), found beside the checkpoint or in its parent folder (as named there, or by its file name), and its
    /// path; null if none. Not in the working directory: a stray NAME.yaml there configured another network for the weights,
    /// without a word (an audit of session 47: ReLU for SiLU weights, logits off by more than their size, exit 0).
    /// </summary>
    static (ModelConfig Config, string Path)? AuthorsConfigNamedBy(IReadOnlyDictionary<string, object>? args, string weightsPath)
    {
        if (args?.GetValueOrDefault("model_cfg") is not string { Length: > 0 } named || !AuthorsYamlConfig.IsYamlPath(named)) return null;
        string dir = Path.GetDirectoryName(Path.GetFullPath(weightsPath))!;
        var found = new[] { dir, Path.GetDirectoryName(dir) }
            .Where(d => d is not null)
            .SelectMany(d => new[] { Path.Combine(d!, named), Path.Combine(d!, Path.GetFileName(named)) })
            .Select(Path.GetFullPath)
            .FirstOrDefault(File.Exists);
        return found is null ? null : (AuthorsYamlConfig.Load(found), found);
    }

    /// <summary>Weights with no configuration stored or named, and none given: where one could come from.</summary>
    static InvalidSettingException NoConfiguration(string weightsPath, IReadOnlyDictionary<string, object>? args)
    {
        string where = args?.GetValueOrDefault("model_cfg") is string { Length: > 0 } named
            ? $"(its args.model_cfg names {named}, not found beside it: the authors' YAML model files are in their repository's imagenet/models/)"
            : DeploymentInfo.SidecarCandidates(weightsPath).FirstOrDefault(File.Exists) is { } other
                ? $"(the {Path.GetFileName(other)} beside them names no model: a sidecar holds a configuration, or \"model\" with one)"
                : $"(or put a sidecar {Path.ChangeExtension(Path.GetFileName(weightsPath), ".json")} next to them)";
        return new(ConfigSetting, names => $"{weightsPath}: no model configuration stored with these weights; give {names.Name(ConfigSetting)} {where}");
    }

    /// <summary>
    /// An untrained model, initialized from <see cref="RandomInitializationSeed"/> (export or time a model before training
    /// it), in <paramref name="form"/> (fused after initialization; <see cref="InvalidSettingException"/> of
    /// <see cref="FormSetting"/> for <see cref="NetworkForm.Fused"/> of a network without a fused form).
    /// </summary>
    public static (ImageClassifier Model, DeploymentInfo Info) RandomlyInitialized(ModelConfig config, NetworkForm form)
    {
        RequireForm(config, form);
        bool fuse = Fuses(form, config);
        var model = RandomState.Kept(() =>   // one seeding, building and fusing at a time: two at once drew from each other's sequence
        {
            manual_seed(RandomInitializationSeed);
            ImageClassifier built = ModelFactory.Create(config);
            try
            {
                built.eval();
                return fuse ? FuseReplacing(built) : built;
            }
            catch
            {
                built.Dispose();
                throw;
            }
        });
        return (model, new DeploymentInfo { Model = config, Fused = fuse }.Completed());
    }

    /// <summary>InvalidSettingException of <see cref="FormSetting"/> when <paramref name="form"/> asks for the fused form of a
    /// network that has none (ParNetFuser's wording of why), before anything is read into a model.</summary>
    static void RequireForm(ModelConfig config, NetworkForm form)
    {
        if (form != NetworkForm.Fused) return;
        try { ParNetFuser.RequireFusable(config); }
        catch (NotSupportedException e) { throw new InvalidSettingException(FormSetting, n => $"{n.Given(FormSetting, NetworkForm.Fused)}: {e.Message}", e); }
    }

    /// <summary>The fused form in place of <paramref name="model"/> (a fusable one: <see cref="RequireForm"/> and
    /// <see cref="Fuses"/> decide before).</summary>
    static ImageClassifier FuseReplacing(ImageClassifier model)
    {
        var fused = ParNetFuser.Fuse(model);
        model.Dispose();
        return fused;
    }
}
