using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace ParNet.Distributed;

/// <summary>
/// The processes an MPI launcher started (mpiexec, srun --mpi=pmi2), through MPI.NET on Debian's MPICH.
/// MPI.NET sets up and tears down MPI (MPI_Init/MPI_Finalize, rank, size); the collectives call MPI.NET's
/// bindings of the C functions (MPI.Unsafe) on the tensors' own memory, in place: MPI.NET's managed collectives
/// would copy every gradient bucket into a .NET array and back.
/// </summary>
public sealed class MpiProcessGroup : IProcessGroup
{
    /// <summary>MPICH's MPI_IN_PLACE, ((void*)-1) in mpi.h (the same in MS-MPI, whose ABI MPI.NET targets).</summary>
    static readonly IntPtr InPlace = new(-1);

    readonly MPI.Environment _environment;
    PeerWatch _peers = new([]);
    CollectiveWatch? _watch;
    bool _disposed;

    MpiProcessGroup(MPI.Environment environment)
    {
        _environment = environment;
        Rank = MPI.Communicator.world.Rank;
        Size = MPI.Communicator.world.Size;
        var pids = this.AllGather(Environment.ProcessId);
        var hosts = this.AllGather(HostKey());
        ProcessIds = pids.Select(p => (int)p).ToArray();
        ProcessesOnThisMachine = hosts.Count(h => h == hosts[Rank]);
        _peers = new PeerWatch(Enumerable.Range(0, Size).Where(r => r != Rank && hosts[r] == hosts[Rank]).Select(r => (r, ProcessIds[r])));
    }

    /// <summary>Every rank's process id (index = rank), for messages that name a process.</summary>
    public IReadOnlyList<int> ProcessIds { get; }

    /// <summary>This machine's name as a number (exact in a double) for comparing hosts with one all-reduce.</summary>
    static double HostKey() => BitConverter.ToUInt32(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Environment.MachineName)));

    /// <summary>Initializes MPI (once per process); the launcher's environment tells each process its rank.</summary>
    public static MpiProcessGroup Start()
    {
        MpiLibrary.MapOntoMpich();
        var args = Array.Empty<string>();
        return new MpiProcessGroup(new MPI.Environment(ref args));
    }

    public int Rank { get; }
    public int Size { get; }
    public int ProcessesOnThisMachine { get; }
    public CommunicationStats Stats { get; } = new();

    public void AllReduceSum(Tensor tensor)
    {
        var (type, count) = Describe(tensor);
        if (type == MPI.Unsafe.MPI_BYTE) throw new ArgumentException("bytes are broadcast, not summed: use float32, float64 or int64");
        _peers.Check();
        var clock = Stopwatch.StartNew();
        var watch = _watch;
        watch?.Enter("MPI_Allreduce");
        try { Check(MPI.Unsafe.MPI_Allreduce(InPlace, DataPointer(tensor), count, type, MPI.Unsafe.MPI_SUM, MPI.Unsafe.MPI_COMM_WORLD), "MPI_Allreduce"); }
        finally { watch?.Leave(); }
        Stats.Add(count * tensor.ElementSize, clock.Elapsed);
    }

    public void Broadcast(Tensor tensor, int root = 0)
    {
        var (type, count) = Describe(tensor);
        _peers.Check();
        var clock = Stopwatch.StartNew();
        var watch = _watch;
        watch?.Enter("MPI_Bcast");
        try { Check(MPI.Unsafe.MPI_Bcast(DataPointer(tensor), count, type, root, MPI.Unsafe.MPI_COMM_WORLD), "MPI_Bcast"); }
        finally { watch?.Leave(); }
        Stats.Add(0, clock.Elapsed);
    }

    public IDisposable WatchCollectives(CollectiveLimits limits, CancellationToken stop, Action<CollectiveStall> onStall)
    {
        if (_watch is not null) throw new InvalidOperationException("the collectives are watched already");
        var watch = new CollectiveWatch(limits, stop, onStall, _peers.Unusual);
        _watch = watch;
        return new Unwatch(this, watch);
    }

    sealed class Unwatch(MpiProcessGroup group, CollectiveWatch watch) : IDisposable
    {
        public void Dispose()
        {
            if (group._watch == watch) group._watch = null;
            watch.Dispose();
        }
    }

    /// <summary>MPI_Abort, half a second after the call: what this process wrote last (the line saying why it aborts)
    /// travels to the user through the launcher's output forwarding, which an abort tears down. A fresh-clone CI run on
    /// Zen 5 (2026-12-03) lost it: rank 0 noticed the killed rank and wrote its line, and mpiexec ended with the abort's
    /// exit code 0.1 s after the kill with nothing of rank 0's stderr forwarded, not even MPICH's own abort line.
    /// An abort from a thread other than the one in a collective (<see cref="WatchCollectives"/>) is outside what MPI
    /// promises below MPI_THREAD_MULTIPLE (MPICH's takes it): if the process still runs <see cref="AbortBackstop"/> later,
    /// it kills itself, and the launcher ends the others as for any lost process.</summary>
    public void Abort(int exitCode)
    {
        Thread.Sleep(AbortGrace);
        var backstop = new Thread(() =>
        {
            Thread.Sleep(AbortBackstop);
            Process.GetCurrentProcess().Kill();   // SIGKILL
        }) { IsBackground = true };
        backstop.Start();
        MPI.Unsafe.MPI_Abort(MPI.Unsafe.MPI_COMM_WORLD, exitCode);
    }

    static readonly TimeSpan AbortBackstop = TimeSpan.FromSeconds(10);

    /// <summary>Time for the launcher to forward this process's last output before an abort (see <see cref="Abort"/>).</summary>
    public static readonly TimeSpan AbortGrace = TimeSpan.FromMilliseconds(500);

    static (int Type, int Count) Describe(Tensor t)
    {
        if (t.device_type != TorchSharp.DeviceType.CPU || !t.is_contiguous()) throw new ArgumentException("collectives need a contiguous CPU tensor");
        if (t.numel() > int.MaxValue) throw new ArgumentException($"a collective of {t.numel()} elements: split it (MPI counts are 32-bit)");
        int type = t.dtype switch
        {
            ScalarType.Float32 => MPI.Unsafe.MPI_FLOAT,
            ScalarType.Float64 => MPI.Unsafe.MPI_DOUBLE,
            ScalarType.Int64 => MPI.Unsafe.MPI_LONG_LONG,
            ScalarType.Byte => MPI.Unsafe.MPI_BYTE,
            _ => throw new ArgumentException($"collectives take float32, float64, int64 or uint8 tensors, not {t.dtype}"),
        };
        return (type, (int)t.numel());
    }

    /// <summary>The tensor's own memory: for a contiguous CPU tensor TorchSharp's <c>bytes</c> spans the native data (no copy).</summary>
    static unsafe IntPtr DataPointer(Tensor t)
    {
        if (t.numel() == 0) return IntPtr.Zero;
        fixed (byte* p = t.bytes) return (IntPtr)p;
    }

    static void Check(int code, string what)
    {
        if (code != 0) throw new InvalidOperationException($"{what} failed with MPI error {code}");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _environment.Dispose();   // MPI_Finalize
    }
}

/// <summary>
/// MPI.NET imports MS-MPI's library name (msmpi.dll); MPICH has the same ABI (handles, constants), so on Linux
/// the name is mapped onto Debian's libmpich.so.12 before the first MPI call.
/// </summary>
static class MpiLibrary
{
    static int _mapped;
    public const string Mpich = "libmpich.so.12";

    public static void MapOntoMpich()
    {
        if (Interlocked.Exchange(ref _mapped, 1) == 1) return;
        NativeLibrary.SetDllImportResolver(typeof(MPI.Communicator).Assembly, Resolve);
    }

    static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (!name.StartsWith("msmpi", StringComparison.OrdinalIgnoreCase)) return IntPtr.Zero;
        if (NativeLibrary.TryLoad(Mpich, out var handle)) return handle;
        throw new DllNotFoundException($"this process was started by an MPI launcher but {Mpich} is not installed (Debian: apt-get install mpich)");
    }
}
