using System.Threading.Channels;
using ParNet.Runtime;

namespace ParNet.Serving;

/// <summary>How requests are grouped into batches (see <see cref="MicroBatcher{TIn, TOut}"/>).</summary>
public sealed record MicroBatcherOptions
{
    /// <summary>Most items per batch: 8, where a ParNet batch still costs well under 8 single runs on 2-16 cores.</summary>
    public int MaxBatch { get; init; } = 8;

    /// <summary>
    /// Longest a worker holding a first item waits for more: 2 ms, small beside one ParNet forward (5-100 ms),
    /// so a lone request pays almost nothing and a burst still fills a batch.
    /// </summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// Items waiting for a worker, at most; one more is refused (<see cref="QueueFullException"/>) instead of held in
    /// memory: 64, eight full batches, beyond which a client is better told to retry elsewhere. Items whose caller gave up
    /// (timeout, cancellation) do not count.
    /// </summary>
    public int QueueCapacity { get; init; } = 64;

    /// <summary>
    /// Longest an item may wait for a worker, from submission (<see cref="MicroBatcher{TIn, TOut}.SubmitAsync"/>, for a
    /// server after the upload and decoding); one still waiting then fails with <see cref="TimeoutException"/>: 10 s,
    /// a full queue of ParNet-S batches at 224 on a 2-core machine (~1 s a batch of 8) with room to spare. An item a
    /// worker has taken is computed and answered however long its batch takes: timing it out too answered every request
    /// of an idle server "overloaded" where one batch took longer than the timeout, while the model computed each answer
    /// for nobody (an audit of serve).
    /// </summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Longest <see cref="MaxWait"/> and <see cref="Timeout"/>: 2^31 - 1 ms (24.8 days), within what a timer
    /// (CancellationTokenSource, 2^32 - 2 ms) takes. Longer, every request failed (timeout) or the worker died at its first
    /// item and the server aborted at shutdown (max wait).
    /// </summary>
    public static TimeSpan LongestDuration { get; } = TimeSpan.FromMilliseconds(int.MaxValue);

    /// <summary>Each setting's range, the one place it is checked: an <see cref="InvalidSettingException"/> naming the
    /// setting, which a front end words with its own names (the CLI's options checked the same ranges in words of their own).</summary>
    public void Validate()
    {
        string longest = $"{LongestDuration.TotalMilliseconds:0} ms (24 days, the longest a timer takes)";
        if (MaxBatch < 1) throw Refused(nameof(MaxBatch), MaxBatch, "must be >= 1 (images per inference call)");
        if (MaxWait < TimeSpan.Zero || MaxWait > LongestDuration) throw Refused(nameof(MaxWait), MaxWait, $"from 0 to {longest}");
        if (QueueCapacity < 1) throw Refused(nameof(QueueCapacity), QueueCapacity, "must be >= 1 (images waiting)");
        if (Timeout <= TimeSpan.Zero || Timeout > LongestDuration) throw Refused(nameof(Timeout), Timeout, $"more than 0 to {longest}");
        // no bound between the max wait and the timeout: a worker waiting for more items takes each as it comes, and the
        // timeout ends only an item's wait for a worker (a max wait at or above the timeout was refused while it also
        // counted the item's time in the worker's hands)
    }

    static InvalidSettingException Refused(string member, object value, string problem) =>
        InvalidSettingException.Given(SettingNames.Of(nameof(MicroBatcherOptions), member), value, problem);
}

/// <summary>The queue is at capacity: the item was not accepted (a server answers 503 with Retry-After).</summary>
public sealed class QueueFullException(int capacity) : Exception($"the queue is full ({capacity} images waiting for a worker); retry shortly")
{
    public int Capacity { get; } = capacity;
}

/// <summary>The batcher is shutting down and takes no new items (a server answers 503).</summary>
public sealed class BatcherStoppingException() : Exception("the server is shutting down");

/// <summary>
/// Groups single items into batches for a batch function: a queue of bounded length, and one worker task per batch function
/// (one per model instance, so an instance is never used by two threads). A worker takes the first waiting item, then
/// more until it holds <see cref="MicroBatcherOptions.MaxBatch"/> or <see cref="MicroBatcherOptions.MaxWait"/> has
/// passed, and runs them as one call. Items whose caller gave up (timeout, cancellation) are dropped before the call.
/// </summary>
public sealed class MicroBatcher<TIn, TOut> : IAsyncDisposable
{
    sealed class Pending(TIn input)
    {
        int _queued = 1;

        public TIn Input { get; private set; } = input;
        public TaskCompletionSource<TOut> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Ends its wait in the queue, once, whoever comes first (a worker, its caller giving up): true for the first.</summary>
        public bool Leave() => Interlocked.Exchange(ref _queued, 0) == 1;

        /// <summary>Withdrawn before any worker took it: nothing reads the input again, and it may stay in the channel
        /// until a worker skips it (a decoded image, up to hundreds of MB).</summary>
        public void DropInput() => Input = default!;
    }

    // unbounded: a withdrawn item stays in the channel until a worker skips it, so the channel's count is not the queue's
    // length; _waiting counts the live items and bounds them. A bounded channel refused new images as "the queue is
    // full" while withdrawn ones held its places (an audit of serve, session 45).
    readonly Channel<Pending> _queue;
    int _waiting;
    readonly MicroBatcherOptions _options;
    readonly TimeProvider _time;
    readonly Task[] _workers;
    int _inFlight;
    volatile bool _stopping;

    /// <param name="workers">one batch function per worker; each returns one result per input, in order</param>
    /// <param name="onBatch">called after each batch with its size and how long the call took (metrics)</param>
    public MicroBatcher(MicroBatcherOptions options, IReadOnlyList<Func<IReadOnlyList<TIn>, IReadOnlyList<TOut>>> workers,
                        Action<int, TimeSpan>? onBatch = null, TimeProvider? time = null)
    {
        options.Validate();
        if (workers.Count == 0) throw new ArgumentException("at least one worker is needed");
        _options = options;
        _time = time ?? TimeProvider.System;
        _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = workers.Count == 1 });
        // LongRunning: a dedicated thread per worker, which blocks in the model's forward pass, not a thread-pool thread
        _workers = workers.Select(w => Task.Factory.StartNew(() => Work(w, onBatch), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
    }

    /// <summary>Items waiting for a worker (not counting those being computed, nor those whose caller gave up).</summary>
    public int QueueDepth => Volatile.Read(ref _waiting);

    /// <summary>Items accepted and not yet answered: waiting, or in a batch being computed.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>
    /// The result for one item. Throws <see cref="QueueFullException"/> at once when the queue is full,
    /// <see cref="TimeoutException"/> when no worker took it within the options' timeout, OperationCanceledException when
    /// <paramref name="cancel"/> fires first, <see cref="BatcherStoppingException"/> after <see cref="DisposeAsync"/> began.
    /// </summary>
    public async Task<TOut> SubmitAsync(TIn input, CancellationToken cancel = default)
    {
        cancel.ThrowIfCancellationRequested();   // a request already withdrawn (its batch refused) takes no queue slot
        if (Interlocked.Increment(ref _waiting) > _options.QueueCapacity)
        {
            Interlocked.Decrement(ref _waiting);
            if (_stopping) throw new BatcherStoppingException();
            throw new QueueFullException(_options.QueueCapacity);
        }
        var pending = new Pending(input);
        if (!_queue.Writer.TryWrite(pending))   // completed: stopping
        {
            Interlocked.Decrement(ref _waiting);
            throw new BatcherStoppingException();
        }
        Interlocked.Increment(ref _inFlight);
        try { return await WaitAsync(pending, cancel).ConfigureAwait(false); }
        finally { Interlocked.Decrement(ref _inFlight); }
    }

    async Task<TOut> WaitAsync(Pending pending, CancellationToken cancel)
    {
        using var timeout = new CancellationTokenSource(_options.Timeout, _time);
        using var timedOut = timeout.Token.Register(() =>
        {
            // only while it waits: once a worker has taken it, it is answered however long its batch takes
            if (Withdraw(pending))
                pending.Result.TrySetException(new TimeoutException(
                    $"no worker free within {_options.Timeout.TotalMilliseconds:0} ms (the server is overloaded)"));
        });
        using var cancelled = cancel.Register(() =>
        {
            pending.Result.TrySetCanceled(cancel);
            Withdraw(pending);   // after its result: a worker that takes it now sees it completed and skips it
        });
        try { return await pending.Result.Task.ConfigureAwait(false); }
        catch
        {
            Withdraw(pending);   // its place back before its caller hears: cancellation's Withdraw runs after the result it set (review, session 45)
            throw;
        }
    }

    void Work(Func<IReadOnlyList<TIn>, IReadOnlyList<TOut>> run, Action<int, TimeSpan>? onBatch)
    {
        var batch = new List<Pending>(_options.MaxBatch);
        while (_queue.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            batch.Clear();
            if (!_queue.Reader.TryRead(out var first)) continue;   // another worker took it
            if (Take(first)) batch.Add(first);
            Fill(batch);
            if (batch.Count > 0) Run(run, batch, onBatch);
        }
    }

    /// <summary>A worker takes an item from the channel: its place is free, and it is run unless its caller gave up while it
    /// waited (withdrawn: timed out or cancelled; or cancelled, its withdrawal still to come).</summary>
    bool Take(Pending pending)
    {
        if (!pending.Leave()) return false;
        Interlocked.Decrement(ref _waiting);
        return !pending.Result.Task.IsCompleted;
    }

    /// <summary>Its caller gave up: if no worker has taken it, its place is free now, not when a worker skips it. True when
    /// it was still waiting.</summary>
    bool Withdraw(Pending pending)
    {
        if (!pending.Leave()) return false;
        pending.DropInput();
        Interlocked.Decrement(ref _waiting);
        return true;
    }

    /// <summary>Adds waiting items to <paramref name="batch"/> until it is full or the maximum wait has passed.</summary>
    void Fill(List<Pending> batch)
    {
        long start = _time.GetTimestamp();
        while (batch.Count < _options.MaxBatch)
        {
            if (_queue.Reader.TryRead(out var next))
            {
                if (Take(next)) batch.Add(next);
                continue;
            }
            var left = _options.MaxWait - _time.GetElapsedTime(start);
            if (left <= TimeSpan.Zero) return;
            using var wait = new CancellationTokenSource(left, _time);
            try
            {
                if (!_queue.Reader.WaitToReadAsync(wait.Token).AsTask().GetAwaiter().GetResult()) return;   // completed: no more items
            }
            catch (OperationCanceledException) when (wait.IsCancellationRequested) { return; }
        }
    }

    void Run(Func<IReadOnlyList<TIn>, IReadOnlyList<TOut>> run, List<Pending> batch, Action<int, TimeSpan>? onBatch)
    {
        long start = _time.GetTimestamp();
        try
        {
            var results = run(batch.Select(p => p.Input).ToList());
            if (results.Count != batch.Count)
                throw new InvalidOperationException($"the batch function returned {results.Count} results for {batch.Count} inputs");
            for (int i = 0; i < batch.Count; i++) batch[i].Result.TrySetResult(results[i]);
        }
        catch (Exception e)
        {
            foreach (var p in batch) p.Result.TrySetException(e);
        }
        onBatch?.Invoke(batch.Count, _time.GetElapsedTime(start));
    }

    /// <summary>Stops accepting items, lets the workers finish every accepted one, and waits for them.</summary>
    public async ValueTask DisposeAsync()
    {
        _stopping = true;
        _queue.Writer.TryComplete();
        await Task.WhenAll(_workers).ConfigureAwait(false);
    }
}
