using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ParNet.Runtime;

/// <summary>
/// BatchNorm2d's forward, as TorchSharp 0.107 computes it, without its one hazard: it bumps
/// num_batches_tracked with `add_(1)`, which TorchSharp turns into `add_(scalar, alpha: 1)`; both
/// temporary Scalars become unreachable while libtorch still reads them, so the finalizer thread may
/// free them mid-call. Seen twice in about 2,000 training steps (~200,000 calls), each time aborting
/// the process: "Unknown scalar type" (c10/core/Scalar.h) and "For integral input tensors, argument
/// alpha must not be a floating point number". Here both are one static Scalar, alive for the process. (The module type stays TorchSharp's
/// BatchNorm2d, sealed, so state dicts and every other use are unchanged.)
/// Inside <see cref="SynchronizeStatistics"/> a training forward normalizes with the statistics of the batches
/// of all processes together (SyncBatchNorm); this layer knows only the sum it is given, not how processes talk.
/// </summary>
public static class BatchNorms
{
    [ThreadStatic] static Func<Tensor, Tensor>? _crossProcessSum;

    /// <summary>
    /// Until disposed, training forwards on this thread take their batch statistics over every process:
    /// <paramref name="crossProcessSum"/> returns the element-wise sum of a tensor over all processes and
    /// must be differentiable (backward sums the gradients the same way).
    /// </summary>
    public static IDisposable SynchronizeStatistics(Func<Tensor, Tensor> crossProcessSum)
    {
        var previous = _crossProcessSum;
        _crossProcessSum = crossProcessSum;
        return new Restore(previous);
    }

    sealed class Restore(Func<Tensor, Tensor>? previous) : IDisposable
    {
        public void Dispose() => _crossProcessSum = previous;
    }

    /// <summary>Whether <see cref="Forward"/> normalizes with the running statistics (eval mode, statistics tracked): BN is
    /// then a fixed per-channel affine map.</summary>
    public static bool OnRunningStatistics(BatchNorm2d bn) => !bn.training && bn.running_mean is not null && bn.running_var is not null;

    public static Tensor Forward(BatchNorm2d bn, Tensor x)
    {
        if (bn.training && bn.track_running_stats && bn.num_batches_tracked is { } count)
            count.add_(PersistentScalars.One, PersistentScalars.One);
        bool useBatchStatistics = !OnRunningStatistics(bn);
        if (useBatchStatistics && _crossProcessSum is { } sum) return SynchronizedForward(Parameters.Of(bn), x, sum);
        return nn.functional.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                                        useBatchStatistics, bn.momentum ?? 0.1, bn.eps);
    }

    /// <summary>
    /// <paramref name="first"/>(x) and <paramref name="second"/>(x) on the two halves of <paramref name="interleaved"/>
    /// (channel 2k normalized by first's channel k, 2k+1 by second's), computed as one batch norm over the whole tensor
    /// with the two layers' parameters and statistics interleaved the same way: per channel it is the same arithmetic,
    /// and the gradient reaches the batch norm whole. Normalizing the halves first and interleaving after would hand
    /// each of them every other channel of a channels_last gradient, a strided tensor, which libtorch's BatchNorm
    /// backward can only take in its serial loop (5% of a fashion-mnist training step on one thread). Running statistics
    /// and batch counts are written back to the two layers. With cross-process statistics (<see cref="SynchronizeStatistics"/>)
    /// the whole tensor is synchronized at once, one cross-process sum for both layers. Layers that differ in momentum or
    /// eps are normalized half by half instead.
    /// </summary>
    public static Tensor ForwardInterleaved(BatchNorm2d first, BatchNorm2d second, Tensor interleaved)
    {
        bool useBatchStatistics = first.training || first.running_mean is null || first.running_var is null;
        bool alike = first.training == second.training && first.momentum == second.momentum && first.eps == second.eps
                     && first.weight is not null && second.weight is not null && first.bias is not null && second.bias is not null
                     && first.running_mean is not null && second.running_mean is not null
                     && first.running_var is not null && second.running_var is not null;
        if (!alike)
        {
            var a = Forward(first, interleaved.slice(1, 0, interleaved.shape[1], 2));
            var b = Forward(second, interleaved.slice(1, 1, interleaved.shape[1], 2));
            return stack([a, b], dim: 2).flatten(1, 2);
        }
        static Tensor Interleave(Tensor a, Tensor b) => stack([a, b], dim: 1).flatten();
        Tensor runningMean, runningVar;
        using (no_grad())
        {
            runningMean = Interleave(first.running_mean!, second.running_mean!);
            runningVar = Interleave(first.running_var!, second.running_var!);
        }
        var both = new Parameters(Interleave(first.weight!, second.weight!), Interleave(first.bias!, second.bias!), runningMean, runningVar,
                                  first.training, first.momentum ?? 0.1, first.eps);
        var y = useBatchStatistics && _crossProcessSum is { } sum
            ? SynchronizedForward(both, interleaved, sum)
            : nn.functional.batch_norm(interleaved, runningMean, runningVar, both.Weight, both.Bias, useBatchStatistics, both.Momentum, both.Eps);
        if (first.training && first.track_running_stats)
        {
            using var noGrad = no_grad();
            long c = first.running_mean!.shape[0];
            first.running_mean!.copy_(runningMean.slice(0, 0, 2 * c, 2));
            second.running_mean!.copy_(runningMean.slice(0, 1, 2 * c, 2));
            first.running_var!.copy_(runningVar.slice(0, 0, 2 * c, 2));
            second.running_var!.copy_(runningVar.slice(0, 1, 2 * c, 2));
            first.num_batches_tracked?.add_(PersistentScalars.One, PersistentScalars.One);
            second.num_batches_tracked?.add_(PersistentScalars.One, PersistentScalars.One);
        }
        return y;
    }

    /// <summary>
    /// Batch normalization over the global batch: per channel, the sums of x and x² and the element count
    /// (in float64, so that E[x²] - E[x]² keeps its digits) are summed over the processes; the biased variance
    /// normalizes, the unbiased one updates the running variance, as in BatchNorm2d.
    /// </summary>
    static Tensor SynchronizedForward(Parameters bn, Tensor x, Func<Tensor, Tensor> crossProcessSum)
    {
        long channels = x.shape[1];
        long[] dims = [0, 2, 3];
        using var countHere = full(1, (double)(x.numel() / channels), ScalarType.Float64);
        var local = cat([x.sum(dims, type: ScalarType.Float64), (x * x).sum(dims, type: ScalarType.Float64), countHere]);
        var total = crossProcessSum(local);
        double n = total[2 * channels].item<double>();
        using Scalar count = n, eps = bn.Eps;   // held by `using`, not temporaries (see above)
        var mean = total.narrow(0, 0, channels) / count;
        var variance = (total.narrow(0, channels, channels) / count - mean * mean).clamp_min(PersistentScalars.Zero);
        var invStd = (variance + eps).rsqrt();
        var scale = bn.Weight is { } w ? invStd.to(x.dtype) * w : invStd.to(x.dtype);
        var shift = -mean.to(x.dtype) * scale;
        if (bn.Bias is { } b) shift = shift + b;
        if (bn.Training && bn.RunningMean is { } runningMean && bn.RunningVar is { } runningVar)
        {
            using var noGrad = no_grad();
            double momentum = bn.Momentum;
            using Scalar keep = 1 - momentum, take = momentum;
            runningMean.mul_(keep).add_(mean.detach().to(runningMean.dtype), alpha: take);
            using Scalar unbiased = n / Math.Max(1, n - 1);
            runningVar.mul_(keep).add_((variance.detach() * unbiased).to(runningVar.dtype), alpha: take);
        }
        return x * scale.view(1, channels, 1, 1) + shift.view(1, channels, 1, 1);
    }

    /// <summary>What a batch norm normalizes with: one layer's tensors, or two layers' interleaved.</summary>
    readonly record struct Parameters(Tensor? Weight, Tensor? Bias, Tensor? RunningMean, Tensor? RunningVar, bool Training, double Momentum, double Eps)
    {
        public static Parameters Of(BatchNorm2d bn) =>
            new(bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.training, bn.momentum ?? 0.1, bn.eps);
    }
}
