using TorchSharp;

namespace ParNet.Runtime;

/// <summary>
/// Scalars that live for the whole process. TorchSharp turns `a + b` into `a.add(b, alpha: 1)` and
/// `x.add_(1)` into `x.add_(1, alpha: 1)`, building temporary Scalars that become unreachable while
/// libtorch still reads them: the finalizer thread may free them mid-call. That aborted two training
/// runs (see Models/Blocks/BatchNorms.cs). Hot paths pass these instead.
/// </summary>
public static class PersistentScalars
{
    /// <summary>1, for alpha: `a.add(b, PersistentScalars.One)` is `a + b` without a temporary Scalar.</summary>
    public static readonly Scalar One = PersistentScalar(1L);

    /// <summary>0.0, for clamps: `x.clamp_min(PersistentScalars.Zero)`.</summary>
    public static readonly Scalar Zero = PersistentScalar(0.0);

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

}
