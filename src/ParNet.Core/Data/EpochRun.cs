using System.Runtime.ExceptionServices;

namespace ParNet.Data;

/// <summary>
/// The worker threads of one epoch. Worker threads claim batch numbers in order, but never more than
/// Prefetch ahead of the consumer; results are handed over by batch number, so order never depends on
/// timing. An epoch may start at any batch (a resume). Disposing (end of epoch, or the consumer stopping early) stops and joins the workers
/// (within <see cref="JoinTimeout"/>).
/// </summary>
sealed class EpochRun : IDisposable
{
    readonly DataLoader _loader;
    readonly int[] _order;
    readonly int _epoch, _batches, _prefetch;
    readonly CancellationTokenSource _stop;
    readonly DataLoader.PreparedBatch?[] _ready;
    readonly ExceptionDispatchInfo?[] _errors;
    readonly Thread[] _threads;
    readonly object _gate = new();
    int _nextToClaim, _consumed;

    public EpochRun(DataLoader loader, int[] order, int epoch, int startBatch, int batches, CancellationToken cancel)
    {
        _loader = loader;
        _order = order;
        _epoch = epoch;
        _batches = batches;
        _nextToClaim = _consumed = startBatch;   // a resumed epoch: the batches before are never built
        _prefetch = Math.Max(1, loader.Options.Prefetch ?? 2 * loader.Options.Workers);
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        _ready = new DataLoader.PreparedBatch?[batches];
        _errors = new ExceptionDispatchInfo?[batches];
        _threads = new Thread[Math.Min(loader.Options.Workers, Math.Max(1, batches - startBatch))];
        for (int t = 0; t < _threads.Length; t++)
        {
            _threads[t] = new Thread(Work) { IsBackground = true, Name = $"ParNet data worker {t}" };
            _threads[t].Start();
        }
    }

    void Work()
    {
        var token = _stop.Token;
        while (true)
        {
            int batch;
            lock (_gate)
            {
                while (!token.IsCancellationRequested && _nextToClaim < _batches && _nextToClaim >= _consumed + _prefetch)
                    Monitor.Wait(_gate);
                if (token.IsCancellationRequested || _nextToClaim >= _batches) return;
                batch = _nextToClaim++;
            }
            DataLoader.PreparedBatch? result = null;
            ExceptionDispatchInfo? error = null;
            try { result = _loader.BuildBatch(_order, _epoch, batch, token); }
            catch (OperationCanceledException) when (token.IsCancellationRequested) { return; }
            catch (Exception e) { error = ExceptionDispatchInfo.Capture(e); }
            lock (_gate)
            {
                _ready[batch] = result;
                _errors[batch] = error;
                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>Waits for batch <paramref name="batch"/> (batches are taken in order) and frees its prefetch slot.</summary>
    public DataLoader.PreparedBatch Take(int batch)
    {
        var token = _stop.Token;
        lock (_gate)
        {
            while (_ready[batch] is null && _errors[batch] is null)
            {
                token.ThrowIfCancellationRequested();
                Monitor.Wait(_gate, 50); // wake periodically to notice cancellation
            }
            _errors[batch]?.Throw();
            var result = _ready[batch]!;
            _ready[batch] = null;
            _consumed = batch + 1;
            Monitor.PulseAll(_gate);
            return result;
        }
    }

    /// <summary>How long a stopped epoch waits for a worker to finish the batch it is building: a worker blocked in a read that
    /// never returns (a FIFO named .png in a class folder, a stalled network mount) held the trainer here, so that Ctrl-C
    /// and SIGTERM could neither save nor end the run (a data audit of session 47). Such a worker is left behind (a
    /// background thread: it ends with the process); a batch of large images at one thread takes a few seconds.</summary>
    static readonly TimeSpan JoinTimeout = TimeSpan.FromSeconds(15);

    public void Dispose()
    {
        _stop.Cancel();
        lock (_gate) Monitor.PulseAll(_gate);
        var deadline = DateTime.UtcNow + JoinTimeout;
        bool allJoined = _threads.All(thread => thread.Join(Max(deadline - DateTime.UtcNow, TimeSpan.Zero)));
        if (allJoined) _stop.Dispose();   // a worker left behind may still look at its token
    }

    static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
