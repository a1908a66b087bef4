using System.Runtime.InteropServices;

namespace ParNet.Runtime;

/// <summary>
/// The intra-op thread count of one thread alone. libtorch's <c>torch.set_num_threads(n)</c> (OpenMP build, as
/// TorchSharp-cpu's) does two things: it sets the calling thread's OpenMP and MKL counts, and it stores n as the
/// process-wide count that every thread reads on its first parallel op and keeps for life. So a worker that calls it
/// to run on one core also gives one core to any thread of the process that starts its first op meanwhile (a server's
/// request thread, a caller's second predictor). <see cref="SetForThisThread"/> sets only the first two: it runs the
/// thread's first-op setup (which would overwrite them with the process-wide count), then calls libtorch's own
/// libgomp's <c>omp_set_num_threads</c> and MKL's <c>mkl_set_num_threads_local</c> (where libtorch has MKL), as libtorch
/// does. Where libtorch's libgomp is not found (another build or OS) it falls back to <c>torch.set_num_threads</c>,
/// process-wide.
/// </summary>
public static unsafe class IntraOpThreads
{
    static readonly delegate* unmanaged<int, void> OmpSetNumThreads = (delegate* unmanaged<int, void>)OpenMpParallel.Export("omp_set_num_threads");

    // MKL's C function (mkl_service.h defines mkl_set_num_threads_local as this name; the lower-case exports are its Fortran
    // interface, which takes a pointer: called with an int it crashed); null in a libtorch built without MKL
    static readonly delegate* unmanaged<int, int> MklSetNumThreadsLocal = (delegate* unmanaged<int, int>)LibTorchExport("MKL_Set_Num_Threads_Local");

    static nint LibTorchExport(string name) =>
        OperatingSystem.IsLinux() && NativeLibrary.TryLoad("libtorch_cpu.so", typeof(IntraOpThreads).Assembly, null, out var library)
        && NativeLibrary.TryGetExport(library, name, out var function) ? function : 0;

    /// <summary>Whether <see cref="SetForThisThread"/> leaves other threads alone (libtorch's libgomp found).</summary>
    public static bool ThreadLocal => OmpSetNumThreads != null;

    /// <summary>The calling thread's libtorch ops run on <paramref name="threads"/> threads from now on; other threads,
    /// and threads started later, keep theirs (see the class summary for the fallback).</summary>
    public static void SetForThisThread(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "a thread count must be at least 1");
        TorchSharp.torch.get_num_threads();   // this thread's first-op setup, now rather than inside its next op
        if (!ThreadLocal) { TorchSharp.torch.set_num_threads(threads); return; }
        OmpSetNumThreads(threads);
        if (MklSetNumThreadsLocal != null) MklSetNumThreadsLocal(threads);
    }
}
