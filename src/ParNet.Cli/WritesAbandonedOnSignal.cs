using System.Runtime.InteropServices;
using ParNet.Runtime;

namespace ParNet.Cli;

/// <summary>
/// For a command whose only work is writing a file (export, fuse, convert): Ctrl-C or SIGTERM deletes the temporary file
/// of the write under way before the process ends as the signal ends it (exit 130 or 143), instead of leaving a
/// TARGET.*.tmp as large as the model beside the target (walk of session 34). The target stays as it was.
/// </summary>
sealed class WritesAbandonedOnSignal : IDisposable
{
    readonly PosixSignalRegistration _interrupt, _terminate;

    public WritesAbandonedOnSignal()
    {
        // not cancelled: the signal's default action ends the process after this
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => AtomicFile.AbandonWritesInProgress());
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => AtomicFile.AbandonWritesInProgress());
    }

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
    }
}
