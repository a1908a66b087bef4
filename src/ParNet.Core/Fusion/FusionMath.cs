using ParNet.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace ParNet.Fusion;

/// <summary>
/// The re-parameterization identities, as pure functions on tensors (nothing here touches a module).
/// Kernels are [Cout, Cin/groups, k, k]; every BN statistic is per output channel, so groups change nothing.
/// </summary>
public static class FusionMath
{
    /// <summary>Inference-mode BN as a per-channel affine map, BN(x) = scale x + shift: scale = gamma/sqrt(var+eps),
    /// shift = beta - mean * scale.</summary>
    public static (Tensor Scale, Tensor Shift) BatchNormAffine(Tensor runningMean, Tensor runningVar, Tensor gamma, Tensor beta, double eps)
    {
        using var epsilon = eps.ToScalar();   // disposed here, not left to the finalizer (PersistentScalars)
        return BatchNormAffine(runningMean, runningVar, gamma, beta, epsilon);
    }

    /// <summary>As above with eps as a Scalar the caller keeps alive: a forward pass computes it with no temporary Scalar
    /// (<see cref="PersistentScalars"/>; <see cref="FusedStreamBlock"/>).</summary>
    public static (Tensor Scale, Tensor Shift) BatchNormAffine(Tensor runningMean, Tensor runningVar, Tensor gamma, Tensor beta, Scalar eps)
    {
        var scale = gamma.div(runningVar.add(eps, PersistentScalars.One).sqrt_());
        return (scale, runningMean.mul(scale).neg_().add_(beta, PersistentScalars.One));   // beta - mean * scale, exactly
    }

    /// <summary>BN(conv(x)) = conv'(x) + b': w' = w * scale, b' = shift (<see cref="BatchNormAffine(Tensor, Tensor, Tensor, Tensor, double)"/>).</summary>
    public static (Tensor Weight, Tensor Bias) FoldBatchNorm(
        Tensor weight, Tensor runningMean, Tensor runningVar, Tensor gamma, Tensor beta, double eps)
    {
        var (scale, shift) = BatchNormAffine(runningMean, runningVar, gamma, beta, eps);
        return (weight * scale.reshape(-1, 1, 1, 1), shift);
    }

    /// <summary>A 1x1 kernel as the equivalent 3x3 kernel at padding 1: zero ring on every side.</summary>
    public static Tensor PadOneByOneToThreeByThree(Tensor kernel1x1)
    {
        CheckKernel(kernel1x1, 1);
        return nn.functional.pad(kernel1x1, [1, 1, 1, 1]);
    }

    /// <summary>
    /// AvgPool2d(2, 2) then a 1x1 conv, as a 3x3 stride-2 padding-1 kernel: the 1x1 kernel upsampled to 2x2
    /// (nearest), divided by 4, padded by one at the top and left only. Output (i, j) of the stride-2 conv reads
    /// rows 2i-1..2i+1; the pool reads rows 2i, 2i+1, i.e. kernel rows 1 and 2. Exact when H and W are even.
    /// </summary>
    public static Tensor PooledOneByOneToThreeByThree(Tensor kernel1x1)
    {
        CheckKernel(kernel1x1, 1);
        var upsampled = kernel1x1.repeat(1, 1, 2, 2) / 4.0;
        return nn.functional.pad(upsampled, [1, 0, 1, 0]);   // (left, right, top, bottom)
    }

    /// <summary>The 3x3 kernel of x -> x for a conv with the given groups: 1 at the centre, channel c to itself.</summary>
    public static Tensor IdentityKernel(int channels, int groups, ScalarType dtype = ScalarType.Float32)
    {
        if (groups < 1 || channels % groups != 0)
            throw new ArgumentException($"{channels} channels are not divisible by groups {groups}");
        int perGroup = channels / groups;
        var kernel = zeros(channels, perGroup, 3, 3, dtype: dtype);
        for (int c = 0; c < channels; c++) kernel[c, c % perGroup, 1, 1] = tensor(1.0, dtype: dtype);
        return kernel;
    }

    static void CheckKernel(Tensor kernel, int size)
    {
        if (kernel.dim() != 4 || kernel.shape[2] != size || kernel.shape[3] != size)
            throw new ArgumentException($"expected a {size}x{size} kernel [Cout, Cin/groups, {size}, {size}]; got [{string.Join(",", kernel.shape)}]");
    }
}
