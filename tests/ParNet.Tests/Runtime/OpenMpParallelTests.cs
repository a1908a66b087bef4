using System.Collections.Concurrent;
using ParNet.Runtime;

namespace ParNet.Tests.Runtime;

/// <summary>The parallel loop the Winograd convs run on: on libtorch's OpenMP threads on Linux, each range once.</summary>
public class OpenMpParallelTests
{
    [Fact]
    public void On_linux_the_loop_finds_the_libgomp_libtorch_loaded_and_runs_on_its_threads()
    {
        Assert.True(OperatingSystem.IsLinux(), "CI and both CPU kinds of environment.md are Linux; elsewhere the loop uses .NET's pool");
        Assert.True(OpenMpParallel.OnOpenMpThreads);
        var threads = new ConcurrentDictionary<int, bool>();
        // each part waits until both have started: two parts that ran one after the other on one thread would never finish
        using var bothStarted = new Barrier(2);
        OpenMpParallel.For(2, 2, (first, last) =>
        {
            threads[Environment.CurrentManagedThreadId] = true;
            Assert.True(bothStarted.SignalAndWait(TimeSpan.FromSeconds(30)), "the two parts did not run at the same time");
        });
        Assert.Equal(2, threads.Count);
    }

    [Theory]
    [InlineData(10, 3)]
    [InlineData(7, 7)]
    [InlineData(2, 5)]    // more parts than items: one item a part
    [InlineData(0, 2)]
    public void Every_index_is_covered_once_in_contiguous_ranges(int count, int parts)
    {
        var seen = new int[count];
        var ranges = new ConcurrentBag<(int, int)>();
        OpenMpParallel.For(count, parts, (first, last) =>
        {
            ranges.Add((first, last));
            for (int i = first; i < last; i++) Interlocked.Increment(ref seen[i]);
        });
        Assert.All(seen, s => Assert.Equal(1, s));
        Assert.All(ranges, r => Assert.True(r.Item1 <= r.Item2));
        Assert.Equal(count, ranges.Sum(r => r.Item2 - r.Item1));
    }

    [Fact]
    public void An_exception_in_a_part_reaches_the_caller_with_its_type_and_message()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            OpenMpParallel.For(4, 2, (first, last) => { if (first == 0) throw new InvalidOperationException("part 0 failed"); }));
        Assert.Equal("part 0 failed", error.Message);
    }
}
