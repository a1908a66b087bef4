using TorchSharp.Modules;
using ParNet.Models.Blocks;
using static TorchSharp.torch;

namespace ParNet.Fusion;

/// <summary>
/// Reads a trained branch (conv + BN, or a BN alone) and folds it, in the parameters' own dtype (float32).
/// Deliberately not float64: libtorch 2.10's oneDNN 3x3 conv reads stale heap memory for channel counts that
/// are not a multiple of 16 (92, 110, 165, 200, ...) and multiplies it by zero, which is harmless unless the
/// stale bits are NaN; freed float64 buffers leave NaN bit patterns behind (see results/fusion.md).
/// </summary>
public static class BranchFolding
{
    /// <summary>BN(conv(x)) as (kernel, bias), kernel at its own size.</summary>
    public static (Tensor Weight, Tensor Bias) Fold(ConvBn branch) => Fold(branch.Conv.weight!, branch.Bn);

    /// <summary>BN(x) as a 3x3 (kernel, bias): the identity kernel folded with the BN.</summary>
    public static (Tensor Weight, Tensor Bias) FoldIdentity(BatchNorm2d bn, int groups = 1)
    {
        int channels = (int)bn.running_mean!.shape[0];
        return Fold(FusionMath.IdentityKernel(channels, groups, bn.running_mean.dtype), bn);
    }

    static (Tensor Weight, Tensor Bias) Fold(Tensor weight, BatchNorm2d bn)
    {
        using var noGrad = no_grad();
        var dtype = weight.dtype;
        Tensor Read(Tensor? t, string what) => (t ?? throw new InvalidOperationException($"BatchNorm without {what} cannot be folded"))
            .detach().to(dtype);
        var channels = bn.running_mean!.shape[0];
        var gamma = bn.weight is null ? ones(channels, dtype: dtype) : Read(bn.weight, "weight");
        var beta = bn.bias is null ? zeros(channels, dtype: dtype) : Read(bn.bias, "bias");
        return FusionMath.FoldBatchNorm(Read(weight, "kernel"), Read(bn.running_mean, "running_mean"),
            Read(bn.running_var, "running_var"), gamma, beta, bn.eps);
    }
}
