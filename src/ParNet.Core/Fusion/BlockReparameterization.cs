using ParNet.Models.Blocks;
using static TorchSharp.torch;

namespace ParNet.Fusion;

/// <summary>
/// The single conv (3x3 kernel and bias) equal to the sum of a trained block's linear branches,
/// evaluated with the BNs' running statistics (eval mode).
/// </summary>
public static class BlockReparameterization
{
    /// <summary>Dense 3x3 + 1x1 padded to 3x3; without SSE also the identity BN.</summary>
    public static (Tensor Weight, Tensor Bias) Of(StreamBlock block)
    {
        var (w, b) = BranchFolding.Fold(block.Dense);
        var (w1, b1) = BranchFolding.Fold(block.Pointwise);
        w = w + FusionMath.PadOneByOneToThreeByThree(w1);
        b = b + b1;
        if (block.Gate is null)   // plain RepVGG identity: linear, so it folds as well
        {
            var (wi, bi) = BranchFolding.FoldIdentity(block.Identity);
            w = w + wi;
            b = b + bi;
        }
        return (w, b);
    }

    /// <summary>Dense 3x3 + the 1x1 branch: pooled (stride 2) or padded (stride 1). Groups carry through.</summary>
    public static (Tensor Weight, Tensor Bias) Of(DownsamplingBlock block)
    {
        var (w, b) = BranchFolding.Fold(block.Dense);
        var (w1, b1) = BranchFolding.Fold(block.Pointwise);
        var w1As3x3 = block.Stride == 2 ? FusionMath.PooledOneByOneToThreeByThree(w1) : FusionMath.PadOneByOneToThreeByThree(w1);
        return (w + w1As3x3, b + b1);
    }

    public static (Tensor Weight, Tensor Bias) Of(ConvBnAct block) => BranchFolding.Fold(block.ConvBn);

    /// <summary>Any trained block that has a fused form; null for modules that are not blocks.</summary>
    public static (Tensor Weight, Tensor Bias)? OfAny(nn.Module module) => module switch
    {
        StreamBlock s => Of(s),
        DownsamplingBlock d => Of(d),
        ConvBnAct c => Of(c),
        _ => null,
    };
}
