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

    public static Tensor Forward(BatchNorm2d bn, Tensor x)
    {
        if (bn.training && bn.track_running_stats && bn.num_batches_tracked is { } count)
            count.add_(PersistentScalars.One, PersistentScalars.One);
        bool useBatchStatistics = bn.training || bn.running_mean is null || bn.running_var is null;
        if (useBatchStatistics && _crossProcessSum is { } sum) return SynchronizedForward(bn, x, sum);
        return nn.functional.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                                        useBatchStatistics, bn.momentum ?? 0.1, bn.eps);
    }

    /// <summary>
    /// Batch normalization over the global batch: per channel, the sums of x and x² and the element count
    /// (in float64, so that E[x²] - E[x]² keeps its digits) are summed over the processes; the biased variance
    /// normalizes, the unbiased one updates the running variance, as in BatchNorm2d.
    /// </summary>
    static Tensor SynchronizedForward(BatchNorm2d bn, Tensor x, Func<Tensor, Tensor> crossProcessSum)
    {
        long channels = x.shape[1];
        long[] dims = [0, 2, 3];
        using var countHere = full(1, (double)(x.numel() / channels), ScalarType.Float64);
        var local = cat([x.sum(dims, type: ScalarType.Float64), (x * x).sum(dims, type: ScalarType.Float64), countHere]);
        var total = crossProcessSum(local);
        double n = total[2 * channels].item<double>();
        var mean = total.narrow(0, 0, channels) / n;
        var variance = (total.narrow(0, channels, channels) / n - mean * mean).clamp_min(0);
        var invStd = (variance + bn.eps).rsqrt();
        var scale = bn.weight is { } w ? invStd.to(x.dtype) * w : invStd.to(x.dtype);
        var shift = -mean.to(x.dtype) * scale;
        if (bn.bias is { } b) shift = shift + b;
        if (bn.training && bn.running_mean is { } runningMean && bn.running_var is { } runningVar)
        {
            using var noGrad = no_grad();
            double momentum = bn.momentum ?? 0.1;
            using Scalar keep = 1 - momentum, take = momentum;
            runningMean.mul_(keep).add_(mean.detach().to(runningMean.dtype), alpha: take);
            runningVar.mul_(keep).add_((variance.detach() * (n / Math.Max(1, n - 1))).to(runningVar.dtype), alpha: take);
        }
        return x * scale.view(1, channels, 1, 1) + shift.view(1, channels, 1, 1);
    }
}
