using System.Runtime.InteropServices;
using ParNet.Inference;
using ParNet.Runtime;
using ParNet.Tests.Models;
using static TorchSharp.torch;

namespace ParNet.Tests.Runtime;

/// <summary>
/// One thread's intra-op count set without touching the process-wide count that threads read on their first op. These
/// tests set that process-wide count (to 3, a value nothing else uses), so they run alone.
/// </summary>
[Collection(nameof(RunsAlone))]
public class IntraOpThreadsTests
{
    [DllImport("libtorch_cpu.so", EntryPoint = "MKL_Get_Max_Threads")]
    static extern int MklMaxThreads();

    const int ProcessCount = 3;

    static T OnFreshThread<T>(Func<T> body)
    {
        T result = default!;
        var thread = new Thread(() => result = body());
        thread.Start();
        thread.Join();
        return result;
    }

    static void WithProcessCount(Action body)
    {
        int before = get_num_threads();
        set_num_threads(ProcessCount);
        try { body(); }
        finally { set_num_threads(before); }
    }

    [Fact]
    public void A_thread_gets_its_count_and_a_thread_starting_meanwhile_gets_the_process_count()
    {
        Assert.True(IntraOpThreads.ThreadLocal, "libtorch's libgomp was not found: the setter would fall back to the process-wide count");
        WithProcessCount(() =>
        {
            using var isSet = new ManualResetEventSlim();
            using var release = new ManualResetEventSlim();
            int setThreads = 0, setMkl = 0;
            var setter = new Thread(() =>
            {
                IntraOpThreads.SetForThisThread(1);
                setThreads = get_num_threads();
                setMkl = MklMaxThreads();
                isSet.Set();
                release.Wait();   // still alive while the next thread starts
            });
            setter.Start();
            Assert.True(isSet.Wait(TimeSpan.FromSeconds(30)));
            int startedMeanwhile = OnFreshThread(get_num_threads);
            release.Set();
            setter.Join();
            Assert.Equal(1, setThreads);
            Assert.Equal(1, setMkl);
            Assert.Equal(ProcessCount, startedMeanwhile);   // torch.set_num_threads(1) on the setter gives 1 here
            Assert.Equal(ProcessCount, get_num_threads());
        });
    }

    [Fact]
    public void Refuses_a_count_below_one()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => IntraOpThreads.SetForThisThread(0));
    }

    [Fact]
    public void Threads_starting_while_streams_run_on_one_thread_each_get_the_process_count()
    {
        // Not a timed race with a fixed outcome: before IntraOpThreads the workers set the process-wide count to 1 for
        // as long as each stream ran, and fresh threads started meanwhile read 1 in most forwards.
        using var model = OfficialParityTests.TrainedTinyModel();
        var executor = new StreamParallelExecutor(model, threadsPerStream: 1);
        var x = randn(4, 3, 64, 64);
        WithProcessCount(() =>
        {
            using var done = new CancellationTokenSource();
            var reads = new System.Collections.Concurrent.ConcurrentQueue<int>();
            var reader = new Thread(() =>
            {
                while (!done.IsCancellationRequested) reads.Enqueue(OnFreshThread(get_num_threads));
            });
            reader.Start();
            using (no_grad())   // at least ten forwards, and on until the reader has read during them (a slow machine's scheduler)
                for (int i = 0; i < 10 || (reads.Count < 10 && i < 500); i++) executor.Forward(x).Dispose();
            done.Cancel();
            reader.Join();
            Assert.True(reads.Count >= 10, $"{reads.Count} reads");
            Assert.All(reads, r => Assert.Equal(ProcessCount, r));
        });
    }
}
