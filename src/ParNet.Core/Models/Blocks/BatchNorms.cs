using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ParNet.Models.Blocks;

/// <summary>
/// BatchNorm2d's forward, as TorchSharp 0.107 computes it, without its one hazard: it bumps
/// num_batches_tracked with `add_(1)`, and the temporary Scalar built from that 1 becomes unreachable
/// while libtorch still reads it, so the finalizer thread may free it mid-call. Seen once in ~375,000
/// training calls: "Unknown scalar type" from c10/core/Scalar.h, and the process aborted. Here the
/// Scalar is a static field, alive for the whole process. (The module type stays TorchSharp's
/// BatchNorm2d, sealed, so state dicts and every other use are unchanged.)
/// </summary>
public static class BatchNorms
{
    static readonly Scalar One = PersistentScalar(1L);

    /// <summary>
    /// A Scalar no dispose scope owns: TorchSharp registers every new Scalar in the current thread's
    /// dispose scope (and frees it when the scope ends, e.g. after the first training step), and scopes
    /// are per thread, so it is made on a thread that has none.
    /// </summary>
    public static Scalar PersistentScalar(long value) => OnScopelessThread(() => value.ToScalar());

    public static Scalar PersistentScalar(double value) => OnScopelessThread(() => value.ToScalar());

    static Scalar OnScopelessThread(Func<Scalar> make)
    {
        Scalar? made = null;
        var thread = new Thread(() => made = make());
        thread.Start();
        thread.Join();
        return made!;
    }

    public static Tensor Forward(BatchNorm2d bn, Tensor x)
    {
        if (bn.training && bn.track_running_stats && bn.num_batches_tracked is { } count)
            count.add_(One);
        bool useBatchStatistics = bn.training || bn.running_mean is null || bn.running_var is null;
        return nn.functional.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                                        useBatchStatistics, bn.momentum ?? 0.1, bn.eps);
    }
}
