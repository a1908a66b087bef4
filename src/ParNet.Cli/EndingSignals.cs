using System.Runtime.InteropServices;

namespace ParNet.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM answered by an action, not cancelled: the signal then ends the process as it does by default
/// (130, 143), unless the action ends it first. For work a signal should end at once but not silently or untidily: train
/// before training began (one line: nothing was saved), a command that only writes a file (its temporary file deleted,
/// <see cref="ParNet.Runtime.AtomicFile.AbandonWritesInProgress"/>), serve's second signal during its graceful stop.
/// <see cref="StopSignals"/> is the other way, for work that saves and stops at its own pace.
/// </summary>
sealed class EndingSignals : IDisposable
{
    readonly PosixSignalRegistration _interrupt, _terminate;

    /// <param name="onSignal">Run on a thread of the runtime's as the signal comes (SIGINT or SIGTERM).</param>
    public EndingSignals(Action<PosixSignal> onSignal)
    {
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => onSignal(PosixSignal.SIGINT));
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => onSignal(PosixSignal.SIGTERM));
    }

    /// <summary>What the signal did, for the line that says so: "interrupted" (Ctrl-C) or "terminated (SIGTERM)".</summary>
    public static string What(PosixSignal signal) => signal == PosixSignal.SIGTERM ? "terminated (SIGTERM)" : "interrupted";

    /// <summary>As a shell reports a process the signal ended: 128 + SIGTERM (15) or 128 + SIGINT (2).</summary>
    public static int ExitCode(PosixSignal signal) => signal == PosixSignal.SIGTERM ? 143 : 130;

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
    }
}
