using System.Runtime.InteropServices;

namespace ParNet.Cli;

/// <summary>
/// Ctrl-C and SIGTERM before long work has anything to save (train's reading of options, data and weights): the process
/// ends as the signal ends it (130, 143), after one line saying so; it ended silently, and a scheduler's log left a user
/// guessing whether anything was kept (walk of session 34). Disposed when <see cref="StopSignals"/> takes over.
/// </summary>
public sealed class SignalsBeforeWork : IDisposable
{
    readonly PosixSignalRegistration _interrupt, _terminate;

    /// <param name="say">Told "interrupted" or "terminated (SIGTERM)" on a thread of the runtime's, as the signal comes.</param>
    public SignalsBeforeWork(Action<string> say)
    {
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => say("interrupted"));
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => say("terminated (SIGTERM)"));
    }

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
    }
}
