namespace ParNet.Data;

/// <summary>
/// This process's part of a data set split over <see cref="Count"/> processes, as PyTorch's DistributedSampler
/// splits it: every process computes the same (seeded) order of the whole epoch and takes every Count-th index
/// from position <see cref="Index"/> on. With <see cref="PadToEqual"/> (training) the order is first extended
/// by its own first entries to a multiple of Count, so that every process runs the same number of steps (a few
/// images are seen twice per epoch); without it (evaluation) every image is seen exactly once.
/// </summary>
public sealed record Shard(int Index, int Count, bool PadToEqual)
{
    public Shard Validate(int imageCount)
    {
        if (Count < 1 || Index < 0 || Index >= Count) throw new ArgumentException($"shard {Index} of {Count}: need 0 <= index < count");
        if (Count > imageCount)
            throw new ArgumentException($"{Count} processes but only {imageCount} images: every process needs at least one (use fewer processes or more data)");
        return this;
    }

    /// <summary>How many images this shard holds of <paramref name="imageCount"/>.</summary>
    public int Length(int imageCount)
        => PadToEqual ? (imageCount + Count - 1) / Count : (imageCount - Index + Count - 1) / Count;

    /// <summary>This shard's part of an epoch's order (the same order on every process).</summary>
    public int[] Select(int[] order)
    {
        int length = Length(order.Length);
        var mine = new int[length];
        for (int i = 0; i < length; i++) mine[i] = order[(Index + i * Count) % order.Length];
        return mine;
    }
}
