using System.Runtime.InteropServices;

namespace ParNet.Cli;

/// <summary>
/// Ctrl-C and SIGTERM as a request to stop long work (train, study): the first cancels <see cref="Token"/>, so the work
/// saves what it has and stops; a second ends the process as the signal would. SIGTERM (a scheduler's preemption or time
/// limit, docker stop, timeout(1)) saves as Ctrl-C does: it used to end the process at once, and the epoch in progress was
/// lost. While disposed, the signals end the process as they do by default.
/// </summary>
public sealed class StopSignals : IDisposable
{
    // never disposed: it holds no timer or linked token, and a signal handler may still run after Dispose (.NET runs them
    // on a thread of their own, from a copy of the list): a disposed one would throw there and end the process
    readonly CancellationTokenSource _cts = new();
    readonly PosixSignalRegistration _terminate;
    volatile bool _disposed;

    public StopSignals()
    {
        Console.CancelKeyPress += OnCancel;
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnTerminate);
    }

    public CancellationToken Token => _cts.Token;
    public bool Stopped => _cts.IsCancellationRequested;
    /// <summary>Whether SIGTERM asked (in this process: under mpiexec another process's signal stops this one too).</summary>
    public bool Terminated { get; private set; }
    /// <summary>What stopped the work, for the line that says so.</summary>
    public string What => EndingSignals.What(Terminated ? PosixSignal.SIGTERM : PosixSignal.SIGINT);
    /// <summary>As a shell reports a process the signal ended: 128 + SIGTERM (15) or 128 + SIGINT (2).</summary>
    public int ExitCode => EndingSignals.ExitCode(Terminated ? PosixSignal.SIGTERM : PosixSignal.SIGINT);

    void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        if (_disposed || _cts.IsCancellationRequested) return;   // a second Ctrl-C ends the process, as one after the work does
        e.Cancel = true;
        _cts.Cancel();
    }

    void OnTerminate(PosixSignalContext signal)
    {
        if (_disposed || _cts.IsCancellationRequested) return;   // a second one ends the process, as one after the work does
        signal.Cancel = true;
        Terminated = true;
        _cts.Cancel();
    }

    public void Dispose()
    {
        _disposed = true;
        Console.CancelKeyPress -= OnCancel;
        _terminate.Dispose();
    }
}
