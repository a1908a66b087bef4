using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Fusion;

/// <summary>
/// Fills a freshly built fused module from its trained form: every `PREFIX.rbr_reparam.weight|bias` from the
/// re-parameterization of the trained block at PREFIX, every other key (identity BNs, gates, merge input
/// BNs, classifier) copied from the trained key of the same name. The load is strict: a key left
/// uncovered is a bug and fails naming it.
/// </summary>
public static class FusedWeights
{
    const string Weight = "rbr_reparam.weight";
    const string Bias = "rbr_reparam.bias";

    /// <summary>One block: its own rbr_reparam is at the empty prefix.</summary>
    public static void Load(nn.Module fused, nn.Module trained, (Tensor Weight, Tensor Bias) reparam) =>
        Load(fused, trained, new Dictionary<string, (Tensor, Tensor)> { [""] = reparam });

    /// <param name="reparams">by block prefix ("streams.0.0.block." or "" for a block itself)</param>
    public static void Load(nn.Module fused, nn.Module trained, IReadOnlyDictionary<string, (Tensor Weight, Tensor Bias)> reparams)
    {
        using var scope = NewDisposeScope();
        var source = trained.state_dict();
        var dict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var key in fused.state_dict().Keys)
        {
            if (key.EndsWith(Weight, StringComparison.Ordinal) && reparams.TryGetValue(key[..^Weight.Length], out var w))
                dict[key] = w.Weight;
            else if (key.EndsWith(Bias, StringComparison.Ordinal) && reparams.TryGetValue(key[..^Bias.Length], out var b))
                dict[key] = b.Bias;
            else if (source.TryGetValue(key, out var t))
                dict[key] = t;
        }
        StateDict.Load(fused, dict, strict: true, what: "fused weights");
    }
}
