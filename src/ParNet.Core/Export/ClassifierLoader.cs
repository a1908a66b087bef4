using ParNet.Fusion;
using ParNet.Models;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Export;

/// <summary>
/// A model with its weights for deployment (export, predict, bench): the configuration from the caller or from the
/// weights' metadata (<see cref="DeploymentInfo.ForWeights"/>), trained or fused weights recognized by their keys
/// (fused files hold `rbr_reparam` convs), optionally fused after loading. Returned in eval mode.
/// </summary>
public static class ClassifierLoader
{
    public static bool HasFusedKeys(IEnumerable<string> keys) => keys.Any(k => k.Contains(".rbr_reparam.", StringComparison.Ordinal));

    /// <param name="config">null: the configuration stored with the weights (sidecar, metadata, checkpoint state)</param>
    /// <param name="fuse">re-parameterize trained weights (a fused file stays fused either way)</param>
    public static (ImageClassifier Model, DeploymentInfo Info) Load(string weightsPath, ModelConfig? config, bool fuse)
    {
        var info = DeploymentInfo.ForWeights(weightsPath);
        config ??= info.Model ?? throw new ArgumentException(
            $"{weightsPath}: no model configuration stored with these weights; give --model NAME or --config FILE " +
            $"(or put a sidecar {Path.ChangeExtension(Path.GetFileName(weightsPath), ".json")} next to them)");
        var dict = StateDict.Read(weightsPath);
        try
        {
            bool fusedFile = HasFusedKeys(dict.Keys);
            if (fusedFile && config.BlockType != BlockType.RepVggSse)
                throw new InvalidDataException($"{weightsPath}: fused weights, but {config.Name} is a {config.BlockType} network");
            ImageClassifier model = fusedFile ? ParNetFuser.CreateFused(config) : ModelFactory.Create(config);
            try
            {
                StateDict.Load(model, dict, strict: true, what: weightsPath);
                model.eval();
                if (fuse && !fusedFile)
                {
                    if (config.BlockType != BlockType.RepVggSse)
                        throw new ArgumentException($"{config.Name}: only ParNet (RepVGG-SSE) models can be fused; this one is {config.BlockType}");
                    var fused = ParNetFuser.Fuse(model);
                    model.Dispose();
                    model = fused;
                }
            }
            catch
            {
                model.Dispose();
                throw;
            }
            return (model, (info with { Model = config, Fused = fusedFile || fuse }).Completed());
        }
        finally
        {
            foreach (var t in dict.Values) t.Dispose();
        }
    }
}
