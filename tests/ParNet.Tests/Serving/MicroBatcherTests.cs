using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;
using ParNet.Runtime;
using ParNet.Serving;

namespace ParNet.Tests.Serving;

/// <summary>The micro-batcher without HTTP: a fake batch function that records its batches and can be held at a gate.</summary>
public class MicroBatcherTests
{
    /// <summary>Doubles its inputs; records every batch; the first <see cref="HeldCalls"/> calls wait for <see cref="Release"/>.</summary>
    sealed class FakeModel
    {
        readonly ManualResetEventSlim _gate = new(false);
        public ConcurrentQueue<int[]> Batches { get; } = new();
        public int HeldCalls { get; init; }
        public SemaphoreSlim Entered { get; } = new(0);
        int _calls;

        public IReadOnlyList<int> Run(IReadOnlyList<int> inputs)
        {
            Batches.Enqueue(inputs.ToArray());
            Entered.Release();
            if (Interlocked.Increment(ref _calls) <= HeldCalls) Assert.True(_gate.Wait(TimeSpan.FromSeconds(30)), "the test never released the gate");
            return inputs.Select(i => 2 * i).ToList();
        }

        public void Release() => _gate.Set();
    }

    static MicroBatcher<int, int> Batcher(FakeModel model, MicroBatcherOptions options, List<(int Size, TimeSpan Time)>? seen = null,
                                          TimeProvider? time = null) =>
        new(options, [model.Run], (size, time) => { lock (seen ?? []) seen?.Add((size, time)); }, time);

    /// <summary>A clock that moves only when the test advances it, and tells the test each timer started on it (the
    /// worker's wait for more items is one), so that the test advances it only once the worker is waiting.</summary>
    sealed class WatchedFakeTime : FakeTimeProvider
    {
        readonly BlockingCollection<TimeSpan> _timers = new();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = base.CreateTimer(callback, state, dueTime, period);
            _timers.Add(dueTime);
            return timer;
        }

        /// <summary>Waits (real time, a hang guard) until a timer due in <paramref name="dueTime"/> has been started.</summary>
        public void AwaitTimer(TimeSpan dueTime)
        {
            var started = new List<TimeSpan>();
            while (_timers.TryTake(out var due, TimeSpan.FromSeconds(30)))
            {
                if (due == dueTime) return;
                started.Add(due);
            }
            Assert.Fail($"no timer of {dueTime.TotalMilliseconds} ms was started; started: {string.Join(", ", started.Select(t => $"{t.TotalMilliseconds} ms"))}");
        }
    }

    static async Task EnteredAsync(FakeModel model) => Assert.True(await model.Entered.WaitAsync(TimeSpan.FromSeconds(10)), "the worker never ran");

    /// <summary>A timer takes at most 2^32 - 2 ms: a longer --timeout-ms failed every request with a 500, a longer
    /// --max-wait-ms killed the worker at its first item (the request hung, the server aborted at shutdown).</summary>
    [Fact]
    public async Task Waits_longer_than_a_timer_takes_are_refused_and_the_longest_accepted_one_works()
    {
        var fifty = TimeSpan.FromDays(50);
        Assert.Equal("MicroBatcherOptions.MaxWait = 50.00:00:00: from 0 to 2147483647 ms (24 days, the longest a timer takes)",
                     Assert.Throws<InvalidSettingException>(() => new MicroBatcherOptions { MaxWait = fifty }.Validate()).Message);
        Assert.Equal("MicroBatcherOptions.Timeout = 50.00:00:00: more than 0 to 2147483647 ms (24 days, the longest a timer takes)",
                     Assert.Throws<InvalidSettingException>(() => new MicroBatcherOptions { Timeout = fifty }.Validate()).Message);

        var model = new FakeModel();
        var longest = TimeSpan.FromMilliseconds(int.MaxValue);   // 24.8 days: accepted, and within a timer's range
        await using var batcher = Batcher(model, new MicroBatcherOptions { MaxBatch = 2, MaxWait = longest - TimeSpan.FromMilliseconds(1), Timeout = longest });
        var first = batcher.SubmitAsync(3, CancellationToken.None);
        var second = batcher.SubmitAsync(4, CancellationToken.None);   // fills the batch: the worker need not wait out MaxWait
        int[] answers = await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(new[] { 6, 8 }, answers);
    }

    [Fact]
    public async Task Items_waiting_while_the_worker_is_busy_are_run_in_batches_of_at_most_max_batch()
    {
        var model = new FakeModel { HeldCalls = 1 };
        var seen = new List<(int Size, TimeSpan Time)>();
        await using var batcher = Batcher(model, new MicroBatcherOptions { MaxBatch = 8, MaxWait = TimeSpan.FromMilliseconds(50), QueueCapacity = 64 }, seen);
        var first = batcher.SubmitAsync(100);
        await EnteredAsync(model);                                   // the worker holds [100] at the gate
        var rest = Enumerable.Range(0, 10).Select(i => batcher.SubmitAsync(i)).ToList();
        Assert.Equal(10, batcher.QueueDepth);
        model.Release();

        Assert.Equal(200, await first);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => 2 * i), await Task.WhenAll(rest));
        Assert.Equal([[100], [0, 1, 2, 3, 4, 5, 6, 7], [8, 9]], model.Batches.ToArray());
        lock (seen) Assert.Equal([1, 8, 2], seen.Select(s => s.Size));
        Assert.Equal(0, batcher.InFlight);
    }

    [Fact]
    public async Task A_lone_item_waits_for_max_wait_and_no_longer()
    {
        var model = new FakeModel();
        var time = new WatchedFakeTime();
        var maxWait = TimeSpan.FromSeconds(2);
        await using var batcher = Batcher(model, new MicroBatcherOptions { MaxBatch = 8, MaxWait = maxWait }, time: time);
        var lone = batcher.SubmitAsync(1);
        time.AwaitTimer(maxWait);                                     // the worker holds [1] and waits up to max-wait for more
        time.Advance(maxWait - TimeSpan.FromMilliseconds(1));
        var second = batcher.SubmitAsync(2);                          // joins the batch that is still open
        time.AwaitTimer(TimeSpan.FromMilliseconds(1));                // [1, 2] waits out the max-wait's last millisecond
        Assert.Empty(model.Batches);
        Assert.False(lone.IsCompleted, "answered before max-wait: the worker did not wait for more items");
        time.Advance(TimeSpan.FromMilliseconds(1));                   // max-wait has passed: the batch runs, not full
        Assert.Equal(2, await lone.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(4, await second.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal([[1, 2]], model.Batches.ToArray());
    }

    [Fact]
    public async Task With_max_batch_1_every_item_runs_alone()
    {
        var model = new FakeModel { HeldCalls = 1 };
        await using var batcher = Batcher(model, new MicroBatcherOptions { MaxBatch = 1, MaxWait = TimeSpan.FromMilliseconds(50) });
        var first = batcher.SubmitAsync(0);
        await EnteredAsync(model);
        var rest = Enumerable.Range(1, 4).Select(i => batcher.SubmitAsync(i)).ToList();
        model.Release();
        await Task.WhenAll(rest.Append(first));
        Assert.All(model.Batches, b => Assert.Single(b));
        Assert.Equal(5, model.Batches.Count);
    }

    [Fact]
    public async Task A_full_queue_refuses_at_once_and_the_accepted_items_still_complete()
    {
        var model = new FakeModel { HeldCalls = 1 };
        await using var batcher = Batcher(model, new MicroBatcherOptions { MaxBatch = 1, QueueCapacity = 2 });
        var running = batcher.SubmitAsync(1);
        await EnteredAsync(model);
        var queued = new[] { batcher.SubmitAsync(2), batcher.SubmitAsync(3) };
        var refused = await Assert.ThrowsAsync<QueueFullException>(() => batcher.SubmitAsync(4));
        Assert.Equal(2, refused.Capacity);
        Assert.Equal(3, batcher.InFlight);
        model.Release();
        var results = await Task.WhenAll(queued.Prepend(running));
        Assert.Equal(new[] { 2, 4, 6 }, results);
        Assert.DoesNotContain(model.Batches, b => b.Contains(4));
    }

    [Fact]
    public async Task An_item_withdrawn_before_it_is_submitted_takes_no_queue_slot()
    {
        var model = new FakeModel { HeldCalls = 1 };
        await using var batcher = Batcher(model, new MicroBatcherOptions { MaxBatch = 1, QueueCapacity = 1 });
        var running = batcher.SubmitAsync(1);
        await EnteredAsync(model);
        using var withdrawn = new CancellationTokenSource();
        withdrawn.Cancel();   // a batch request refused as a whole while this file of it was still decoding
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => batcher.SubmitAsync(2, withdrawn.Token));
        Assert.Equal(0, batcher.QueueDepth);
        var queued = batcher.SubmitAsync(3);   // the one slot is still free for another client
        model.Release();
        Assert.Equal(new[] { 2, 6 }, await Task.WhenAll(running, queued));
        Assert.DoesNotContain(model.Batches, b => b.Contains(2));
    }

    /// <summary>Items whose caller gave up kept their places in the queue until the worker skipped them: new items were
    /// refused as "the queue is full" and QueueDepth counted them (an audit of serve, session 45).</summary>
    [Fact]
    public async Task Items_cancelled_or_timed_out_while_waiting_give_their_places_back_at_once()
    {
        var model = new FakeModel { HeldCalls = 1 };
        await using var batcher = Batcher(model, new MicroBatcherOptions { MaxBatch = 1, QueueCapacity = 2, Timeout = TimeSpan.FromSeconds(2) });
        var running = batcher.SubmitAsync(1);
        await EnteredAsync(model);
        using var cancel = new CancellationTokenSource();
        var abandoned = new[] { batcher.SubmitAsync(2, cancel.Token), batcher.SubmitAsync(3, cancel.Token) };
        await Assert.ThrowsAsync<QueueFullException>(() => batcher.SubmitAsync(9));   // full with them
        cancel.Cancel();
        foreach (var item in abandoned) await Assert.ThrowsAnyAsync<OperationCanceledException>(() => item);
        Assert.Equal(0, batcher.QueueDepth);
        var late = new[] { batcher.SubmitAsync(4), batcher.SubmitAsync(5) };   // accepted; they outlive their timeout behind the held call
        foreach (var item in late) await Assert.ThrowsAsync<TimeoutException>(() => item);
        Assert.Equal(0, batcher.QueueDepth);
        var last = new[] { batcher.SubmitAsync(6), batcher.SubmitAsync(7) };
        Assert.Equal(2, batcher.QueueDepth);
        model.Release();
        Assert.Equal(new[] { 12, 14 }, await Task.WhenAll(last));
        Assert.Equal([[1], [6], [7]], model.Batches.ToArray());
        Assert.Equal(2, await running);   // taken before its timeout: answered, however long the call held it
    }

    [Fact]
    public async Task An_item_past_its_timeout_fails_and_is_never_computed()
    {
        var model = new FakeModel { HeldCalls = 1 };
        await using var batcher = Batcher(model, new MicroBatcherOptions { MaxBatch = 4, Timeout = TimeSpan.FromMilliseconds(150) });
        var running = batcher.SubmitAsync(1);
        await EnteredAsync(model);
        var late = batcher.SubmitAsync(2);
        var e = await Assert.ThrowsAsync<TimeoutException>(() => late);
        Assert.Equal("no worker free within 150 ms (the server is overloaded)", e.Message);
        await Task.Delay(300);
        Assert.False(running.IsCompleted, "an item the worker had taken was timed out at the gate");   // answered for nobody before
        model.Release();
        Assert.Equal(2, await running);
        Assert.Equal(8, await batcher.SubmitAsync(4));            // the worker goes on with new items
        Assert.DoesNotContain(model.Batches, b => b.Contains(2));
    }

    [Fact]
    public async Task A_cancelled_item_fails_with_cancellation_and_is_dropped_before_the_call()
    {
        var model = new FakeModel { HeldCalls = 1 };
        await using var batcher = Batcher(model, new MicroBatcherOptions { MaxBatch = 4 });
        var running = batcher.SubmitAsync(1);
        await EnteredAsync(model);
        using var cancel = new CancellationTokenSource();
        var abandoned = batcher.SubmitAsync(2, cancel.Token);
        var kept = batcher.SubmitAsync(3);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        model.Release();
        Assert.Equal(2, await running);
        Assert.Equal(6, await kept);
        Assert.Equal([[1], [3]], model.Batches.ToArray());
    }

    [Fact]
    public async Task A_failing_batch_fails_its_items_and_the_worker_keeps_serving()
    {
        int calls = 0;
        IReadOnlyList<int> Flaky(IReadOnlyList<int> inputs) =>
            Interlocked.Increment(ref calls) == 1 ? throw new InvalidOperationException("model broke") : inputs.Select(i => -i).ToList();
        await using var batcher = new MicroBatcher<int, int>(new MicroBatcherOptions { MaxBatch = 2 }, [Flaky]);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => batcher.SubmitAsync(1));
        Assert.Equal("model broke", e.Message);
        Assert.Equal(-5, await batcher.SubmitAsync(5));
    }

    [Fact]
    public async Task Disposing_finishes_accepted_items_then_refuses_new_ones()
    {
        var model = new FakeModel { HeldCalls = 1 };
        var batcher = Batcher(model, new MicroBatcherOptions { MaxBatch = 1 });
        var items = Enumerable.Range(1, 3).Select(i => batcher.SubmitAsync(i)).ToList();
        await EnteredAsync(model);
        var disposing = batcher.DisposeAsync().AsTask();
        await Assert.ThrowsAsync<BatcherStoppingException>(() => batcher.SubmitAsync(9));
        Assert.False(disposing.IsCompleted);
        model.Release();
        await disposing;
        var results = await Task.WhenAll(items);
        Assert.Equal(new[] { 2, 4, 6 }, results);
    }

    [Fact]
    public async Task Two_workers_run_batches_at_the_same_time()
    {
        var a = new FakeModel { HeldCalls = 1 };
        var b = new FakeModel { HeldCalls = 1 };
        await using var batcher = new MicroBatcher<int, int>(new MicroBatcherOptions { MaxBatch = 1 }, [a.Run, b.Run]);
        var first = batcher.SubmitAsync(1);
        var second = batcher.SubmitAsync(2);
        await EnteredAsync(a);
        await EnteredAsync(b);                                       // both held at once: two workers, not one
        a.Release();
        b.Release();
        var results = await Task.WhenAll(first, second);
        Assert.Equal(new[] { 2, 4 }, results);
    }

    /// <summary>The timeout ends only an item's wait for a worker: a lone item, taken at once, is answered after the worker's
    /// max wait for others even where that is longer than the timeout (a max wait at or above the timeout was refused while
    /// the timeout also counted the item's time in the worker's hands, and every request on an idle server got 503).</summary>
    [Fact]
    public async Task A_lone_item_is_answered_after_a_max_wait_longer_than_the_timeout()
    {
        var model = new FakeModel();
        await using var batcher = Batcher(model, new MicroBatcherOptions
        {
            MaxBatch = 4, MaxWait = TimeSpan.FromMilliseconds(400), Timeout = TimeSpan.FromMilliseconds(50),
        });
        var waited = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(6, await batcher.SubmitAsync(3).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(waited.Elapsed >= TimeSpan.FromMilliseconds(350), $"answered after {waited.Elapsed}: the worker did not wait for others");
        Assert.Equal([[3]], model.Batches.ToArray());
    }

    /// <summary>Each refusal names its setting (the CLI words it with the option that set it: its own copies of these checks
    /// had drifted from these in wording, a serve audit).</summary>
    [Theory]
    [InlineData(0, 2, 64, 1000, "MaxBatch", "MicroBatcherOptions.MaxBatch = 0: must be >= 1 (images per inference call)")]
    [InlineData(8, -1, 64, 1000, "MaxWait", "MicroBatcherOptions.MaxWait = -00:00:00.0010000: from 0 to 2147483647 ms")]
    [InlineData(8, 2, 0, 1000, "QueueCapacity", "MicroBatcherOptions.QueueCapacity = 0: must be >= 1 (images waiting)")]
    [InlineData(8, 2, 64, 0, "Timeout", "MicroBatcherOptions.Timeout = 00:00:00: more than 0 to 2147483647 ms")]
    public void Invalid_options_are_refused_naming_the_setting(int maxBatch, int maxWaitMs, int capacity, int timeoutMs, string setting, string message)
    {
        var options = new MicroBatcherOptions
        {
            MaxBatch = maxBatch, MaxWait = TimeSpan.FromMilliseconds(maxWaitMs), QueueCapacity = capacity, Timeout = TimeSpan.FromMilliseconds(timeoutMs),
        };
        var refusal = Assert.Throws<InvalidSettingException>(() => new MicroBatcher<int, int>(options, [x => x]));
        Assert.Equal($"MicroBatcherOptions.{setting}", refusal.ParamName);
        Assert.StartsWith(message, refusal.Message);
    }
}
