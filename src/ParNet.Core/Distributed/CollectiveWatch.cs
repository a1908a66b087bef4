using System.Diagnostics;

namespace ParNet.Distributed;

/// <summary>A collective given up: which one, how long this process waited in it, whether a stop had been asked
/// (Ctrl-C, SIGTERM) and what is known of the other processes on this machine (null: nothing unusual seen).</summary>
public sealed record CollectiveStall(string Collective, TimeSpan Waited, bool AfterStop, string? Peers);

/// <summary>How long a collective may wait for the other processes before the run is given up.</summary>
/// <param name="Timeout">Any collective (torch.distributed's default timeout is the same 30 minutes).</param>
/// <param name="AfterStop">Once a stop was asked: the others got the same signal from the launcher and stop at the same
/// step, so a collective still waiting this long after it waits for a process that cannot come. Two minutes: longer than
/// rank 0 takes to save ParNet-XL's best and last checkpoints (about 2 GB with EMA and optimizer state) at 20 MB/s while
/// the others wait for it, and far shorter than for ever. (Slurm and Kubernetes send SIGKILL 30 s after SIGTERM by
/// default: there a hung job ends anyway; this is for a single SIGTERM, e.g. timeout(1) without -k, and one Ctrl-C.)</param>
public sealed record CollectiveLimits(TimeSpan Timeout, TimeSpan AfterStop)
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(30);
    public static readonly TimeSpan DefaultAfterStop = TimeSpan.FromMinutes(2);

    /// <summary>The limits for a timeout: the stop's wait is never longer than the timeout.</summary>
    public static CollectiveLimits For(TimeSpan timeout) =>
        new(timeout, timeout < DefaultAfterStop ? timeout : DefaultAfterStop);
}

/// <summary>
/// A collective returns when every process has called it; a process that does not come (stopped by SIGSTOP or a debugger,
/// stuck in I/O, hung on another machine) leaves the others waiting in it for ever, and deaf to Ctrl-C and SIGTERM, which
/// the training loop reads between steps: a job of 2026-12-05 with rank 1 stopped by SIGSTOP took SIGTERM and went on
/// waiting (rank 0 at 100% of a core) until a second SIGTERM killed it, unsaid. The watch looks once a second at the
/// collective in progress and calls its action (on a thread of its own, once) when one has waited past the limits; the
/// action says so and ends the job (<see cref="IProcessGroup.Abort"/>): a blocked MPI call cannot be cancelled.
/// </summary>
sealed class CollectiveWatch : IDisposable
{
    readonly CollectiveLimits _limits;
    readonly Action<CollectiveStall> _onStall;
    readonly Func<string?> _peers;
    readonly Timer _timer;
    readonly Stopwatch _clock = Stopwatch.StartNew();
    readonly CancellationTokenRegistration _stopRegistration;
    long _stopAskedTicks = long.MaxValue;
    int _fired;

    /// <param name="peers">What is known of the other processes on this machine when a collective is given up.</param>
    public CollectiveWatch(CollectiveLimits limits, CancellationToken stop, Action<CollectiveStall> onStall, Func<string?> peers)
    {
        if (limits.Timeout <= TimeSpan.Zero || limits.AfterStop <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(limits), limits, "a collective's limits must be positive");
        (_limits, _onStall, _peers) = (limits, onStall, peers);
        _stopRegistration = stop.Register(() => Interlocked.CompareExchange(ref _stopAskedTicks, _clock.Elapsed.Ticks, long.MaxValue));
        _timer = new Timer(_ => Look(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    // the collective in progress: _sequence is odd inside one (each Enter and Leave adds one), so a look that saw it odd
    // and sees the same number after reading the rest read one collective's name and start; written by the calling thread
    long _sequence, _beganTicks;
    volatile string _collective = "";

    public void Enter(string collective)
    {
        _collective = collective;
        Interlocked.Exchange(ref _beganTicks, _clock.Elapsed.Ticks);
        Interlocked.Increment(ref _sequence);
    }

    public void Leave() => Interlocked.Increment(ref _sequence);

    void Look()
    {
        long sequence = Interlocked.Read(ref _sequence);
        if (sequence % 2 == 0 || Volatile.Read(ref _fired) != 0) return;
        string name = _collective;
        var began = TimeSpan.FromTicks(Interlocked.Read(ref _beganTicks));
        long stopTicks = Interlocked.Read(ref _stopAskedTicks);
        var now = _clock.Elapsed;
        var waited = now - began;
        bool afterStop = stopTicks != long.MaxValue && now - Max(began, TimeSpan.FromTicks(stopTicks)) >= _limits.AfterStop;
        if (!afterStop && waited < _limits.Timeout) return;
        if (Interlocked.Read(ref _sequence) != sequence || Interlocked.Exchange(ref _fired, 1) != 0) return;   // it returned meanwhile
        _onStall(new CollectiveStall(name, waited, stopTicks != long.MaxValue, _peers()));
    }

    static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    public void Dispose()
    {
        _timer.Dispose();
        _stopRegistration.Dispose();
    }
}
