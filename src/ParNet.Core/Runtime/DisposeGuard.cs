namespace ParNet.Runtime;

/// <summary>
/// Calls that may run on several threads at once, and a Dispose that waits for them: a call after Dispose is an
/// ObjectDisposedException saying what was disposed, and Dispose frees nothing while a call is inside. ONNX Runtime's
/// InferenceSession.Run checks neither, so a predictor used after Dispose, or disposed while another thread predicted, ended
/// the process with SIGSEGV (library audit, session 39); a torch predictor threw "Tensor invalid -- empty handle".
/// </summary>
public sealed class DisposeGuard
{
    // recursion: a guarded call may reach another of the same object (a predictor's memory check inside a prediction);
    // a Dispose from inside a call is refused (LockRecursionException) rather than freeing what that call is using
    readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.SupportsRecursion);
    readonly string _what;
    bool _disposed;

    /// <param name="what">what the object is, for the exception ("the ONNX Runtime session of m.onnx")</param>
    public DisposeGuard(string what) => _what = what;

    /// <summary>Runs <paramref name="call"/> unless disposed, with Dispose held off until it returns.</summary>
    public T Run<T>(Func<T> call)
    {
        _lock.EnterReadLock();
        try
        {
            // no object name: .NET appends it as a second line, "Object name: '...'" (a library audit of session 47)
            if (_disposed) throw new ObjectDisposedException(null, $"{_what} was disposed: open it again to use it");
            return call();
        }
        finally { _lock.ExitReadLock(); }
    }

    /// <summary>Runs <paramref name="free"/> once, after every call inside has returned; later calls are refused.</summary>
    public void Dispose(Action free)
    {
        _lock.EnterWriteLock();
        try
        {
            if (_disposed) return;
            _disposed = true;
            free();
        }
        finally { _lock.ExitWriteLock(); }
    }
}
