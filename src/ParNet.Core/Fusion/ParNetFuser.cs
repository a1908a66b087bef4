using TorchSharp;
using ParNet.Models;
using static TorchSharp.torch;

namespace ParNet.Fusion;

/// <summary>
/// Whole-model structural re-parameterization. The fused model is a <see cref="ParNetModel"/> built from
/// <see cref="FusedBlocks"/>: same layout and key prefixes as the trained model; inside each block the
/// dense and 1x1 branches become `rbr_reparam` (e.g. `streams.0.0.block.rbr_reparam.weight`); identity BNs,
/// gates, fusion input BNs (b1/b2: zero padding of the following conv keeps them from folding) and the
/// classifier keep their keys. Exact in eval mode (running statistics), for even H and W.
/// </summary>
public static class ParNetFuser
{
    /// <summary>An empty fused model of this configuration, ready for a fused checkpoint (StateDict.Load).</summary>
    public static ParNetModel CreateFused(ModelConfig config)
    {
        if (config.Validate().BlockType != BlockType.RepVggSse) throw NotFusable(config);
        return new ParNetModel(config, FusedBlocks.Instance);
    }

    public static bool IsFused(ImageClassifier model) => model is ParNetModel { BlockFactory: FusedBlocks };

    /// <summary>Whether a state-dict key is one of a fused network's (its blocks' re-parameterized convs, `rbr_reparam`):
    /// how fused weights are told from trained ones in a file.</summary>
    public static bool IsFusedKey(string key) => key.Contains(".rbr_reparam.", StringComparison.Ordinal);

    /// <summary>
    /// A state dict fused by the authors' own `fuse_repvgg_block` keeps each block's fused conv (a conv with a bias) under
    /// `PREFIX.rbr_dense`, where the unfused one has `PREFIX.rbr_dense.conv` and `.bn`; ours calls it `rbr_reparam`, as
    /// RepVGG's deploy form does, and such a file was refused as 264 missing and 44 unexpected keys (an outside check of
    /// session 35). Renamed in place; the keys are otherwise the same.
    /// </summary>
    internal static void NameAuthorsFusedConvs(Dictionary<string, Tensor> dict)
    {
        const string Dense = ".rbr_dense.";
        foreach (var key in dict.Keys.Where(k => k.EndsWith(Dense + "weight", StringComparison.Ordinal)).ToList())
        {
            string prefix = key[..^(Dense.Length + "weight".Length)];
            if (!dict.ContainsKey(prefix + Dense + "bias")) continue;   // not a fused conv
            foreach (var part in new[] { "weight", "bias" })
            {
                dict[prefix + ".rbr_reparam." + part] = dict[prefix + Dense + part];
                dict.Remove(prefix + Dense + part);
            }
        }
    }

    /// <summary>
    /// A new fused model, in eval mode, on the trained model's device, with float32 parameters whatever the trained
    /// model's dtype (a bfloat16 model's fused form takes float32 images; <c>.to(ScalarType.BFloat16)</c> it for bfloat16
    /// ones). The trained model is not modified (not even its train/eval mode). Its BN running statistics are what gets folded.
    /// </summary>
    public static ParNetModel Fuse(ImageClassifier trained)
    {
        ArgumentNullException.ThrowIfNull(trained);
        trained.ThrowIfDisposed("be fused");
        if (trained is not ParNetModel parnet) throw NotFusable(trained.Config);
        if (IsFused(parnet)) throw new ArgumentException($"{trained.Config.Name}: the model is already fused");
        if (parnet.BlockFactory is not Models.Blocks.TrainingBlocks)
            throw new NotSupportedException($"{trained.Config.Name}: cannot fuse blocks made by {parnet.BlockFactory.GetType().Name}");

        // built with random draws its weights then replace: the caller's random sequence is left as it was (a seeded run that
        // fused to validate trained on with other dropout masks: a library audit of session 47)
        var fused = Runtime.RandomState.Kept(() => CreateFused(parnet.Config));
        using (var scope = NewDisposeScope())
        {
            var reparams = new Dictionary<string, (Tensor, Tensor)>(StringComparer.Ordinal);
            foreach (var (name, module) in parnet.named_modules())
                if (BlockReparameterization.OfAny(module) is { } reparam)
                    reparams[name + "."] = reparam;
            FusedWeights.Load(fused, parnet, reparams);
        }
        var device = parnet.parameters().First().device;
        if (device.type != DeviceType.CPU) fused.to(device);
        fused.eval();
        return fused;
    }

    /// <summary>NotSupportedException unless <paramref name="config"/> is a ParNet (RepVGG-SSE blocks), the only networks
    /// with a fused form; the one wording of that refusal (fuse, --fused, the loader).</summary>
    public static void RequireFusable(ModelConfig config)
    {
        if (config.BlockType != BlockType.RepVggSse) throw NotFusable(config);
    }

    static NotSupportedException NotFusable(ModelConfig config) => new(
        $"{config.Name}: only ParNet (RepVGG-SSE) models can be fused; this one is {config.BlockType}, which has an activation " +
        "between its convs and so no single-conv form");
}
