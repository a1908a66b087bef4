using ParNet.Data;

namespace ParNet.Tests.Data;

public class DataLoaderTests
{
    /// <summary>Image i is filled with the byte i % 256, label i % 3: a batch shows which images it holds.</summary>
    internal static InMemoryImageDataset Numbered(int count, int side = 6)
    {
        var pixels = new byte[count * side * side];
        for (int i = 0; i < count; i++) Array.Fill(pixels, (byte)(i % 256), i * side * side, side * side);
        var labels = Enumerable.Range(0, count).Select(i => (byte)(i % 3)).ToArray();
        return new InMemoryImageDataset(pixels, labels, 1, side, side, ["a", "b", "c"]);
    }

    static List<(float[] Images, long[] Labels)> Collect(DataLoader loader, int epoch)
    {
        var result = new List<(float[], long[])>();
        foreach (var batch in loader.Epoch(epoch))
            using (batch) result.Add((batch.Images.data<float>().ToArray(), batch.Labels.data<long>().ToArray()));
        return result;
    }

    [Fact]
    public void Batches_have_the_contract_shapes_and_matching_labels()
    {
        var loader = new DataLoader(Numbered(70), new Compose(), new LoaderOptions { BatchSize = 32, Shuffle = false, Workers = 1 });
        var batches = Collect(loader, 0);
        Assert.Equal([32, 32, 6], batches.Select(b => b.Labels.Length));
        Assert.Equal((1, 6, 6), loader.ImageShape);
        foreach (var batch in loader.Epoch(0))
            using (batch)
            {
                Assert.Equal(TorchSharp.torch.ScalarType.Float32, batch.Images.dtype);
                Assert.Equal(TorchSharp.torch.ScalarType.Int64, batch.Labels.dtype);
                Assert.Equal(new long[] { batch.Count, 1, 6, 6 }, batch.Images.shape);
            }
        var (images, labels) = batches[2];
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal((64 + i) % 3, labels[i]);
            Assert.Equal((64 + i) / 255f, images[i * 36 + 17], 6);
        }
    }

    [Fact]
    public void Epochs_are_reshuffled_permutations()
    {
        var loader = new DataLoader(Numbered(100), new Compose(), new LoaderOptions { BatchSize = 16, Seed = 3, Workers = 2 });
        var order0 = loader.EpochOrder(0);
        var order1 = loader.EpochOrder(1);
        Assert.Equal(Enumerable.Range(0, 100), order0.Order());
        Assert.NotEqual(order0, order1);
        var seen = Collect(loader, 1).SelectMany(b => Enumerable.Range(0, b.Labels.Length).Select(i => (int)MathF.Round(b.Images[i * 36] * 255))).ToArray();
        Assert.Equal(order1, seen);
        Assert.Equal(Enumerable.Range(0, 100), seen.Order());
    }

    [Fact]
    public void Same_seed_gives_identical_batches_for_any_worker_count()
    {
        var augment = new Compose(new RandomCrop(6, 2), new HorizontalFlip(), new RandomErasing(0.5), new Normalize([0.5f], [0.25f]));
        var dataset = Numbered(90);
        List<(float[], long[])> Run(int workers, int prefetch)
            => Collect(new DataLoader(dataset, augment, new LoaderOptions { BatchSize = 8, Seed = 11, Workers = workers, Prefetch = prefetch }), 2);
        var inline = Run(0, 1);
        foreach (var (workers, prefetch) in new[] { (1, 1), (2, 4), (3, 2) })
        {
            var other = Run(workers, prefetch);
            Assert.Equal(inline.Count, other.Count);
            for (int b = 0; b < inline.Count; b++)
            {
                Assert.Equal(inline[b].Item1, other[b].Item1);
                Assert.Equal(inline[b].Item2, other[b].Item2);
            }
        }
        var otherSeed = Collect(new DataLoader(dataset, augment, new LoaderOptions { BatchSize = 8, Seed = 12, Workers = 2 }), 2);
        Assert.NotEqual(inline[0].Item1, otherSeed[0].Item1);
    }

    [Fact]
    public void Subsets_take_the_first_n_or_n_per_class()
    {
        var dataset = Numbered(60);
        var first = new DataLoader(dataset, new Compose(), new LoaderOptions { Subset = Subset.First(10), Workers = 0 });
        Assert.Equal(10, first.Count);
        Assert.Equal(Enumerable.Range(0, 10), first.EpochOrder(0).Order());
        var perClass = Subset.PerClass(4, seed: 1).Select(dataset);
        Assert.Equal(12, perClass.Length);
        Assert.All(perClass.GroupBy(dataset.LabelOf), g => Assert.Equal(4, g.Count()));
        Assert.Equal(perClass, Subset.PerClass(4, seed: 1).Select(dataset));
        Assert.NotEqual(perClass, Subset.PerClass(4, seed: 2).Select(dataset));
    }

    [Fact]
    public void A_random_subset_spans_a_data_set_in_class_order_and_is_the_same_for_a_seed()
    {
        // 3 classes of 20 images in class order, as an image folder is: the first 12 would all be class 0
        var pixels = new byte[60 * 36];
        var labels = Enumerable.Range(0, 60).Select(i => (byte)(i / 20)).ToArray();
        var dataset = new InMemoryImageDataset(pixels, labels, 1, 6, 6, ["a", "b", "c"]);
        var random = Subset.Random(12).Select(dataset);
        Assert.Equal(12, random.Length);
        Assert.Equal(random.Order(), random);
        Assert.Equal(12, random.Distinct().Count());
        Assert.All(random.GroupBy(dataset.LabelOf), g => Assert.InRange(g.Count(), 1, 10));
        Assert.Equal(3, random.Select(dataset.LabelOf).Distinct().Count());
        Assert.Equal(random, Subset.Random(12).Select(dataset));
        Assert.NotEqual(random, Subset.Random(12, seed: 5).Select(dataset));
        Assert.Equal(Enumerable.Range(0, 60), Subset.Random(100).Select(dataset));   // all of them when it has fewer
    }

    [Fact]
    public void Drop_last_and_grey_to_three_channels()
    {
        var loader = new DataLoader(Numbered(70), new ToChannels(3), new LoaderOptions { BatchSize = 32, DropLast = true, Workers = 2 });
        Assert.Equal((3, 6, 6), loader.ImageShape);
        var batches = Collect(loader, 0);
        Assert.Equal(2, batches.Count);
        var (images, _) = batches[0];
        Assert.Equal(images[5], images[36 + 5]);
        Assert.Equal(images[5], images[72 + 5]);
    }

    /// <summary>A worker blocked in a read that never returns (a stalled network mount; a FIFO named .png) held the disposal of
    /// its epoch for ever, so that a stopped run could neither save nor end (a data audit of session 47): it is left behind.</summary>
    [Fact]
    public void A_stopped_epoch_does_not_wait_for_ever_on_a_worker_stuck_in_a_read()
    {
        using var stuck = new ManualResetEventSlim(false);
        var dataset = new StallingDataset(Numbered(40), stallAt: 8, stuck);   // batch 2 of 4 images each, in file order
        var loader = new DataLoader(dataset, new ToChannels(1), new LoaderOptions { BatchSize = 4, Workers = 2, Shuffle = false });
        using var cancel = new CancellationTokenSource();
        _ = Task.Run(() => { dataset.Stalled.Wait(); cancel.Cancel(); });   // Ctrl-C, once a worker is stuck
        var epoch = Task.Run(() =>
        {
            foreach (var batch in loader.Epoch(0, cancel.Token)) batch.Dispose();
        });
        // the consumer's wait for batch 2 ends at the cancellation; the epoch's disposal then joins the stuck worker for 15 s
        bool ended = SpinWait.SpinUntil(() => epoch.IsCompleted, TimeSpan.FromSeconds(60));
        stuck.Set();   // let the left-behind worker end
        Assert.True(ended, "the stopped epoch waited for its stuck worker");
        Assert.True(dataset.Stalled.IsSet);
        Assert.IsAssignableFrom<OperationCanceledException>(epoch.Exception?.InnerException);
    }

    /// <summary>A data set that hands every call but Load to <paramref name="inner"/>.</summary>
    abstract class WrappedDataset(IImageDataset inner) : IImageDataset
    {
        protected IImageDataset Inner => inner;
        public int Count => inner.Count;
        public int Channels => inner.Channels;
        public (int Height, int Width)? FixedSize => inner.FixedSize;
        public IReadOnlyList<string> ClassNames => inner.ClassNames;
        public int LabelOf(int index) => inner.LabelOf(index);
        public abstract ImageF Load(int index, int minShortSide = 0);
    }

    sealed class StallingDataset(IImageDataset inner, int stallAt, ManualResetEventSlim release) : WrappedDataset(inner)
    {
        public ManualResetEventSlim Stalled { get; } = new(false);
        public override ImageF Load(int index, int minShortSide = 0)
        {
            if (index == stallAt)
            {
                Stalled.Set();
                release.Wait();   // no cancellation reaches a blocked open(2)
            }
            return Inner.Load(index, minShortSide);
        }
    }

    /// <summary>Counts which images were decoded, to show which batches a loader built.</summary>
    sealed class CountingDataset(IImageDataset inner) : WrappedDataset(inner)
    {
        readonly int[] _loads = new int[inner.Count];
        public int LoadsOf(int index) => Volatile.Read(ref _loads[index]);
        public int TotalLoads => Enumerable.Range(0, _loads.Length).Sum(LoadsOf);
        public override ImageF Load(int index, int minShortSide = 0)
        {
            Interlocked.Increment(ref _loads[index]);
            return Inner.Load(index, minShortSide);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void An_epoch_started_at_batch_k_yields_the_same_batches_k_on_without_building_the_skipped_ones(int workers)
    {
        // shuffled and randomly cropped: batch k must not depend on where the epoch started
        var options = new LoaderOptions { BatchSize = 8, Workers = workers, Seed = 5 };
        var whole = Collect(new DataLoader(Numbered(70), new RandomCrop(6, 2), options), epoch: 3);
        var counting = new CountingDataset(Numbered(70));
        var loader = new DataLoader(counting, new RandomCrop(6, 2), options);
        const int k = 4;
        var resumed = new List<(float[] Images, long[] Labels)>();
        foreach (var batch in loader.Epoch(3, startBatch: k))
            using (batch) resumed.Add((batch.Images.data<float>().ToArray(), batch.Labels.data<long>().ToArray()));
        Assert.Equal(whole.Count - k, resumed.Count);
        for (int b = 0; b < resumed.Count; b++)
        {
            Assert.Equal(whole[k + b].Images, resumed[b].Images);
            Assert.Equal(whole[k + b].Labels, resumed[b].Labels);
        }
        var order = loader.EpochOrder(3);
        Assert.All(order.Take(k * 8), index => Assert.Equal(0, counting.LoadsOf(index)));   // skipped batches: never decoded
        Assert.All(order.Skip(k * 8), index => Assert.Equal(1, counting.LoadsOf(index)));
        Assert.Throws<ArgumentOutOfRangeException>(() => loader.Epoch(3, startBatch: loader.BatchesPerEpoch + 1));
    }

    [Fact]
    public void Ten_crop_yields_ten_consecutive_views_per_sample()
    {
        var loader = new DataLoader(Numbered(5, side: 8), new Compose(), new LoaderOptions { BatchSize = 4, Shuffle = false, TenCrop = new TenCrop(6), Workers = 1 });
        Assert.Equal(10, loader.ViewsPerImage);
        using var batch = loader.Epoch(0).First();
        Assert.Equal(new long[] { 40, 1, 6, 6 }, batch.Images.shape);
        Assert.Equal(4, batch.Count);
        Assert.Equal(3 / 255f, batch.Images[39, 0, 5, 5].item<float>(), 6); // sample 3's last view
        using var logits = TorchSharp.torch.arange(40 * 2, TorchSharp.torch.ScalarType.Float32).view(40, 2);
        using var averaged = TenCrop.AverageViews(logits);
        Assert.Equal(new long[] { 4, 2 }, averaged.shape);
        Assert.Equal(9f, averaged[0, 0].item<float>()); // mean of 0, 2, ..., 18
    }

    /// <summary>A worker claims batch b only while b &lt; (batches taken) + Prefetch (EpochRun), and the epoch's end joins
    /// the workers: after taking n batches at most (n + Prefetch) x BatchSize images were ever decoded, of 2000, and
    /// none is decoded afterwards.</summary>
    [Fact]
    public void Stopping_early_or_cancelling_ends_workers_without_hanging()
    {
        const int batchSize = 10, prefetch = 3;
        var counting = new CountingDataset(Numbered(2000));
        var loader = new DataLoader(counting, new RandomCrop(6, 2), new LoaderOptions { BatchSize = batchSize, Workers = 2, Prefetch = prefetch });
        foreach (var batch in loader.Epoch(0)) { batch.Dispose(); break; }
        int afterBreak = counting.TotalLoads;
        Assert.InRange(afterBreak, 1 * batchSize, (1 + prefetch) * batchSize);

        using var cancel = new CancellationTokenSource();
        int seen = 0;
        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (var batch in loader.Epoch(1, cancel.Token)) { batch.Dispose(); if (++seen == 3) cancel.Cancel(); }
        });
        Assert.Equal(3, seen);
        int afterCancel = counting.TotalLoads - afterBreak;
        Assert.InRange(afterCancel, 3 * batchSize, (3 + prefetch) * batchSize);

        Thread.Sleep(200);   // a worker left running would go on decoding the epoch's 2000 images
        Assert.Equal(afterBreak + afterCancel, counting.TotalLoads);
    }

    [Fact]
    public void Disposed_batches_release_their_tensors()
    {
        var loader = new DataLoader(Numbered(64), new Compose(), new LoaderOptions { BatchSize = 32, Workers = 1 });
        var batch = loader.Epoch(0).First();
        Assert.False(batch.Images.IsInvalid);
        batch.Dispose();
        Assert.True(batch.Images.IsInvalid);
        Assert.True(batch.Labels.IsInvalid);
    }
}

/// <summary>The process's memory, measured with no other test running (<see cref="RunsAlone"/>).</summary>
[Collection(nameof(RunsAlone))]
public class DataLoaderMemoryTests
{
    [Fact]
    public void Native_memory_does_not_grow_across_epochs()
    {
        var loader = new DataLoader(DataLoaderTests.Numbered(4096, side: 28), new Compose(new RandomCrop(28, 4), new HorizontalFlip()), new LoaderOptions { BatchSize = 256, Workers = 2 });
        long Rss()
        {
            ParNet.Runtime.NativeSetup.ReleaseFreeHeapMemory();   // free heap memory kept for reuse is not a leak
            using var p = System.Diagnostics.Process.GetCurrentProcess();
            p.Refresh();
            // native memory only: the GC's committed heap swings by +-130 MB with what earlier tests left (measured after
            // the serving tests), and it is not what this test is about
            return p.WorkingSet64 - GC.GetGCMemoryInfo().TotalCommittedBytes;
        }
        // what earlier tests left for the GC (a 512 MiB buffer of the /dev/zero refusals) is returned first: the GC giving
        // back such regions inside the measured epochs made the difference read as growth (286 MB once, a fresh-clone CI
        // run of 2026-12-04 22:45 UTC); this test's own tensors are made after, and a leak of them still shows
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        for (int e = 0; e < 3; e++) foreach (var b in loader.Epoch(e)) b.Dispose(); // warm up allocators
        long before = Rss();
        for (int e = 3; e < 23; e++) foreach (var b in loader.Epoch(e)) b.Dispose();
        long growth = Rss() - before;
        // 20 epochs create 320 image tensors of 0.8 MB (256 MB in all): leaking them would show. Half of that is the bound:
        // allocator and runtime noise reached 64 MB once (a fresh-clone run, 2026-12-02 17:50 UTC, nothing leaking).
        Assert.True(growth < 128L << 20, $"RSS grew by {growth >> 20} MB");
    }
}
