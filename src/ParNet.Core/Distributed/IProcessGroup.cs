using static TorchSharp.torch;

namespace ParNet.Distributed;

/// <summary>
/// The processes of one data-parallel run and the collectives training needs. Every process calls the same
/// collectives in the same order with tensors of the same shape and type; each call returns only when all have
/// made it. Tensors are CPU, contiguous, float32, float64, int64 or uint8, and are changed in place.
/// </summary>
public interface IProcessGroup : IDisposable
{
    /// <summary>This process's number, 0..Size-1; rank 0 writes the run's files and prints.</summary>
    int Rank { get; }
    int Size { get; }
    /// <summary>How many of the processes run on this machine (this one included): they share its cores, so each
    /// takes its share of threads rather than all of them.</summary>
    int ProcessesOnThisMachine { get; }
    /// <summary>Every process's tensor summed element-wise, in place on every process.</summary>
    void AllReduceSum(Tensor tensor);
    /// <summary>Rank <paramref name="root"/>'s tensor copied into every process's, in place.</summary>
    void Broadcast(Tensor tensor, int root = 0);
    /// <summary>Time and bytes spent in collectives so far (for the benchmark's compute/communication split).</summary>
    CommunicationStats Stats { get; }
    /// <summary>Ends every process of the run with this exit code (a process that cannot continue alone).</summary>
    void Abort(int exitCode);
    /// <summary>Until disposed, calls <paramref name="onStall"/> (once, on a thread of its own) when a collective of this
    /// process has waited past <paramref name="limits"/> for the others (<see cref="CollectiveWatch"/>): the action
    /// says so and ends the job, as a collective that waits for a process that cannot come never returns.</summary>
    IDisposable WatchCollectives(CollectiveLimits limits, CancellationToken stop, Action<CollectiveStall> onStall) => NothingWatched.Instance;
}

/// <summary>The watch of a group whose collectives cannot wait for others (one process) or that does not watch them.</summary>
sealed class NothingWatched : IDisposable
{
    public static readonly NothingWatched Instance = new();
    public void Dispose() { }
}

/// <summary>What the collectives of a process have cost so far.</summary>
public sealed class CommunicationStats
{
    public long Calls { get; private set; }
    public long BytesReduced { get; private set; }
    public TimeSpan Time { get; private set; }

    public void Add(long bytes, TimeSpan time)
    {
        Calls++;
        BytesReduced += bytes;
        Time += time;
    }
}

/// <summary>A run of one process: every collective is the identity, nothing is loaded.</summary>
public sealed class SingleProcess : IProcessGroup
{
    public int Rank => 0;
    public int Size => 1;
    public int ProcessesOnThisMachine => 1;
    public void AllReduceSum(Tensor tensor) { }
    public void Broadcast(Tensor tensor, int root = 0)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), root, "a single process has only rank 0");
    }
    public CommunicationStats Stats { get; } = new();
    public void Abort(int exitCode) => Environment.Exit(exitCode);
    public void Dispose() { }
}
