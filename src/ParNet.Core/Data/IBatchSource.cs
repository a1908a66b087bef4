using static TorchSharp.torch;

namespace ParNet.Data;

/// <summary>
/// One mini-batch: images as float32 [N, C, H, W] (normalized) and labels as int64 [N].
/// The consumer owns the batch and disposes it.
/// </summary>
public sealed class Batch(Tensor images, Tensor labels) : IDisposable
{
    public Tensor Images { get; } = images;
    public Tensor Labels { get; } = labels;
    public int Count => (int)Labels.shape[0];

    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}

/// <summary>
/// What training and evaluation consume: a finite sequence of batches per epoch.
/// The same seed and epoch give the same batches, whatever the number of worker threads.
/// </summary>
public interface IBatchSource
{
    /// <summary>Images in one epoch.</summary>
    int Count { get; }

    int BatchSize { get; }

    /// <summary>Batches in one epoch: every image (the last batch may be smaller) unless the source drops a last
    /// incomplete batch (<see cref="LoaderOptions.DropLast"/>).</summary>
    int BatchesPerEpoch => (Count + BatchSize - 1) / BatchSize;

    /// <summary>Channels, height and width of the tensors produced.</summary>
    (int Channels, int Height, int Width) ImageShape { get; }

    IReadOnlyList<string> ClassNames { get; }

    /// <summary>The batches of one epoch (epoch seeds the shuffle and the augmentation).</summary>
    IEnumerable<Batch> Epoch(int epoch, CancellationToken cancel = default);

    /// <summary>
    /// The batches of one epoch from batch <paramref name="startBatch"/> on, the same as those of the whole epoch
    /// (a resumed epoch). <see cref="DataLoader"/> builds only those; this fallback, for sources that cannot seek,
    /// builds the skipped ones and disposes them.
    /// </summary>
    IEnumerable<Batch> Epoch(int epoch, int startBatch, CancellationToken cancel = default) => SkipBatches(Epoch(epoch, cancel), startBatch);

    private static IEnumerable<Batch> SkipBatches(IEnumerable<Batch> batches, int count)
    {
        int index = 0;
        foreach (var batch in batches)
        {
            if (index++ < count) { batch.Dispose(); continue; }
            yield return batch;
        }
    }
}
