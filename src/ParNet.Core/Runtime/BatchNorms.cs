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
/// </summary>
public static class BatchNorms
{
    public static Tensor Forward(BatchNorm2d bn, Tensor x)
    {
        if (bn.training && bn.track_running_stats && bn.num_batches_tracked is { } count)
            count.add_(PersistentScalars.One, PersistentScalars.One);
        bool useBatchStatistics = bn.training || bn.running_mean is null || bn.running_var is null;
        return nn.functional.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                                        useBatchStatistics, bn.momentum ?? 0.1, bn.eps);
    }
}
