using ParNet.Analysis;
using ParNet.Fusion;
using ParNet.Models;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Training;

/// <summary>What fine-tuning leaves untrained (timm's freezing helpers, as named here).</summary>
public enum FreezeScope { None, Stem, Streams, Backbone }

/// <summary>
/// Fine-tuning from pretrained weights, as timm's create_model(pretrained=True, num_classes=n, in_chans=c) prepares a
/// model: every key but the classifier loaded strictly (a mismatch names the keys), the classifier left as initialized
/// for the new class count (timm's reset_classifier), and RGB input convolutions adapted to a grey model by summing
/// their filters over the colour channels (timm's adapt_input_conv for in_chans=1: a grey image g, replicated to
/// (g, g, g), gives the same response). Then optionally frozen.
/// </summary>
public static class Pretrained
{
    /// <summary>What <see cref="LoadBackbone(ImageClassifier, string, CheckpointWeights)"/> did, for the run log.</summary>
    public sealed record Report(int LoadedTensors, IReadOnlyList<string> AdaptedInputConvolutions);

    public static Report LoadBackbone(ImageClassifier model, string path, CheckpointWeights pick = CheckpointWeights.Model)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(path);
        path = Checkpoint.RequireWeightsFile(path, "pretrained weights");
        (path, pick) = Checkpoint.WeightsFileFor(path, pick);   // a run's EMA weights: the ema.safetensors beside its model.safetensors
        var source = Checkpoint.ReadWeights(path, "pretrained weights", pick, out _);
        try
        {
            ParNetFuser.NameAuthorsFusedConvs(source);   // fused by the authors' code: refused as fused below, not as 264 keys
            return LoadBackbone(model, source, path);
        }
        finally { foreach (var t in source.Values) t.Dispose(); }
    }

    static Report LoadBackbone(ImageClassifier model, IReadOnlyDictionary<string, Tensor> source, string what)
    {
        // fused weights (ParNet.Fusion) fit no trained form: say so rather than list every key of both
        if (source.Keys.FirstOrDefault(ParNetFuser.IsFusedKey) is { } fusedKey &&
            !model.state_dict().ContainsKey(fusedKey))
            throw new InvalidDataException($"{what}: fused weights (re-parameterized for inference, e.g. {fusedKey}); fine-tuning " +
                                           "starts from the training form they were fused from (a run's checkpoints/last/model.safetensors)");
        var target = model.state_dict();
        var prepared = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var adapted = new List<string>();
        foreach (var (key, value) in source)
        {
            if (target.TryGetValue(key, out var t) && IsRgbToGrey(value.shape, t.shape))
            {
                prepared[key] = value.sum(1, keepdim: true);
                adapted.Add(key);
            }
            else prepared[key] = value;
        }
        try { StateDict.Load(model, prepared, strict: true, what: what, exceptPrefix: ImageClassifier.ClassifierKeyPrefix); }
        finally { foreach (var key in adapted) prepared[key].Dispose(); }
        return new Report(prepared.Keys.Count(k => !k.StartsWith(ImageClassifier.ClassifierKeyPrefix, StringComparison.Ordinal)), adapted);
    }

    /// <summary>
    /// timm's create_model(name, pretrained, num_classes, in_chans) with a weights file: the registered variant with
    /// <paramref name="numClasses"/> classes and <paramref name="inChannels"/> input channels (null: the variant's),
    /// its backbone from <paramref name="weights"/> (<see cref="LoadBackbone(ImageClassifier, string, CheckpointWeights)"/>), and its classifier too when the file's
    /// has the model's shape. Returned in eval mode.
    /// </summary>
    public static ImageClassifier CreateModel(string name, string weights, int? numClasses = null, int? inChannels = null,
                                              CheckpointWeights pick = CheckpointWeights.Model)
        => CreateModel(ModelRegistry.Get(name), weights, numClasses, inChannels, pick);

    /// <summary>As <see cref="CreateModel(string, string, int?, int?, CheckpointWeights)"/>, for any configuration.</summary>
    public static ImageClassifier CreateModel(ModelConfig config, string weights, int? numClasses = null, int? inChannels = null,
                                              CheckpointWeights pick = CheckpointWeights.Model)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        weights = Checkpoint.RequireWeightsFile(weights, "pretrained weights");
        // as LoadBackbone(model, path): a run's EMA weights are the ema.safetensors beside its model.safetensors, and a file fused
        // by the authors' code is refused as fused, not as 264 keys (both were missing here: an audit of session 47)
        (weights, pick) = Checkpoint.WeightsFileFor(weights, pick);
        var source = Checkpoint.ReadWeights(weights, "pretrained weights", pick, out _);   // before the model: a file it cannot read left it undisposed
        ParNetFuser.NameAuthorsFusedConvs(source);
        ImageClassifier? model = null;
        try
        {
            model = ModelFactory.Create(config with { NumClasses = numClasses ?? config.NumClasses, InChannels = inChannels ?? config.InChannels });
            LoadBackbone(model, source, weights);
            var head = source.Where(kv => kv.Key.StartsWith(ImageClassifier.ClassifierKeyPrefix, StringComparison.Ordinal))
                             .ToDictionary(kv => kv.Key, kv => kv.Value);
            var target = model.state_dict();
            if (head.Count > 0 && head.All(kv => target.TryGetValue(kv.Key, out var t) && t.shape.SequenceEqual(kv.Value.shape)))
                StateDict.Load(model, head, strict: false, what: weights);
            model.eval();
            return model;
        }
        catch
        {
            model?.Dispose();
            throw;
        }
        finally { foreach (var t in source.Values) t.Dispose(); }
    }

    /// <summary>A conv weight [out, 3, k, k] in the file where the model's is [out, 1, k, k].</summary>
    static bool IsRgbToGrey(long[] file, long[] model) =>
        file.Length == 4 && model.Length == 4 && file[1] == 3 && model[1] == 1 && file[0] == model[0] && file[2] == model[2] && file[3] == model[3];

    /// <summary>What <see cref="Freeze"/> left: the trainable parameter count, and the BatchNorms inside the frozen part,
    /// which training must keep in eval mode (<see cref="TrainOptions.KeepInEvalMode"/>) so that their running
    /// statistics stay the pretrained ones (timm's freeze does the same).</summary>
    public sealed record Frozen(long TrainableParameters, IReadOnlyList<nn.Module> BatchNorms);

    /// <summary>Every BatchNorm of the model: for training with all BatchNorm statistics frozen (small fine-tuning
    /// batches estimate them badly), their weights and biases still trained unless frozen too.</summary>
    public static IReadOnlyList<nn.Module> BatchNorms(ImageClassifier model) =>
        model.modules().Where(m => m is TorchSharp.Modules.BatchNorm2d).ToList();

    /// <summary>Stops gradients for the parameters in <paramref name="scope"/>. ArgumentException when the network has
    /// no such part (a ResNet has no streams).</summary>
    public static Frozen Freeze(ImageClassifier model, FreezeScope scope)
    {
        IReadOnlyList<string> prefixes = scope switch
        {
            FreezeScope.None => [],
            FreezeScope.Stem => model.StemKeyPrefixes,
            FreezeScope.Streams => model.StreamKeyPrefixes.Count > 0 ? model.StreamKeyPrefixes
                : throw new ArgumentException($"{model.Config.Name} has no parallel streams to freeze (a {model.Config.BlockType} network)"),
            FreezeScope.Backbone => [""],
            _ => throw new ArgumentException($"unknown freeze scope {scope}"),
        };
        bool IsFrozen(string key) => !key.StartsWith(ImageClassifier.ClassifierKeyPrefix, StringComparison.Ordinal)
                                     && prefixes.Any(prefix => key.StartsWith(prefix, StringComparison.Ordinal));
        foreach (var (name, p) in model.named_parameters())
            p.requires_grad = !IsFrozen(name);
        var batchNorms = model.named_modules()
            .Where(m => m.module is TorchSharp.Modules.BatchNorm2d && IsFrozen(m.name + "."))
            .Select(m => m.module).ToList();
        return new Frozen(ModelSummary.CountTrainableParameters(model), batchNorms);
    }
}
