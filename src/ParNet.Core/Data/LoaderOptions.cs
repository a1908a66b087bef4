namespace ParNet.Data;

/// <summary>How a <see cref="DataLoader"/> batches, shuffles and parallelizes.</summary>
public sealed record LoaderOptions
{
    /// <summary>128: the paper's CIFAR batch size, and small enough for 2-core CPU training.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Seeds the shuffle and every augmentation; same seed, same batches.</summary>
    public int Seed { get; init; }

    /// <summary>Reshuffle every epoch (training); false keeps file order (evaluation).</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>Drop a last incomplete batch (off: evaluation must see every image).</summary>
    public bool DropLast { get; init; }

    /// <summary>Background decode/augment threads; 0 works inline on the consumer's thread.</summary>
    public int Workers { get; init; } = DefaultWorkers;

    /// <summary>One thread: the cores are better spent on the model. One worker far outruns training on these machines
    /// (RESULTS.md, "Data loader": 175,000 Fashion-MNIST images/s, 200 augmented 224 px JPEGs/s, against hundreds of
    /// images/s of training for the main job and a few for ParNet-S), and a second one takes a core from the 2.</summary>
    public const int DefaultWorkers = 1;

    /// <summary>Batches decoded ahead of the consumer at most (null: 2 per worker, so each worker has one in
    /// progress while one waits). Bounds memory: buffers never exceed this many batches.</summary>
    public int? Prefetch { get; init; }

    /// <summary>Quick runs on part of the data (null: all); applied after <see cref="Classes"/>.</summary>
    public Subset? Subset { get; init; }

    /// <summary>Only these classes, relabeled 0..k-1 in this order (<see cref="ClassSelection"/>; null: all). An image folder's
    /// evaluation split takes them as ids in DIR/train's class list (<see cref="DataPipelines.FolderClassNames"/>), by name.</summary>
    public IReadOnlyList<int>? Classes { get; init; }

    /// <summary>Short side below which file decoders must not scale down (0: decode at full size).</summary>
    public int DecodeMinShortSide { get; init; }

    /// <summary>Test-time ten-crop of this final transform's output (null: one view per image).</summary>
    public TenCrop? TenCrop { get; init; }

    /// <summary>This process's part of the data in data-parallel training (null: all of it).</summary>
    public Shard? Shard { get; init; }

    /// <summary>Drop and count images whose decoding fails instead of failing the epoch (off: a broken
    /// data set should stop a run, not shrink it silently).</summary>
    public bool SkipUnreadableImages { get; init; }
}

/// <summary>Which images of a data set to use for a quick run.</summary>
public abstract record Subset
{
    /// <summary>The first <paramref name="count"/> images in data set order.</summary>
    public static Subset First(int count) => new FirstN(Positive(count));

    /// <summary><paramref name="count"/> images per class, chosen at random with <paramref name="seed"/> (fewer if a class has fewer).</summary>
    public static Subset PerClass(int count, int seed = 0) => new RandomPerClass(Positive(count), seed);

    /// <summary><paramref name="count"/> images chosen at random over the whole data set with <paramref name="seed"/> (all of
    /// them if it has fewer): a sample in the data's own class proportions, whatever order its files are in (an image
    /// folder is in class order, and its first images are all of its first classes).</summary>
    public static Subset Random(int count, int seed = 0) => new RandomN(Positive(count), seed);

    /// <summary>A subset of no images trained "to completion" on nothing, loss 0, and wrote checkpoints.</summary>
    static int Positive(int count, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(count))] string? name = null) =>
        count >= 1 ? count : throw new ArgumentOutOfRangeException(name, count, "a subset takes at least one image");

    /// <summary>Data set indices, ascending.</summary>
    public abstract int[] Select(IImageDataset dataset);

    sealed record RandomN(int Count, int Seed) : Subset
    {
        public override int[] Select(IImageDataset dataset)
        {
            var all = Enumerable.Range(0, dataset.Count).ToArray();
            SampleRandom.For(Seed, -1, -2).Shuffle(all);
            return all.Take(Count).Order().ToArray();
        }
    }

    sealed record FirstN(int Count) : Subset
    {
        public override int[] Select(IImageDataset dataset) => Enumerable.Range(0, Math.Min(Count, dataset.Count)).ToArray();
    }

    sealed record RandomPerClass(int Count, int Seed) : Subset
    {
        public override int[] Select(IImageDataset dataset)
        {
            var byClass = Enumerable.Range(0, dataset.Count).GroupBy(dataset.LabelOf);
            var chosen = new List<int>();
            foreach (var group in byClass)
            {
                var members = group.ToArray();
                SampleRandom.For(Seed, -1, -10 - group.Key).Shuffle(members);
                chosen.AddRange(members.Take(Count));
            }
            chosen.Sort();
            return chosen.ToArray();
        }
    }
}
