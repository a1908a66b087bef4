using System.Collections.Concurrent;
using static TorchSharp.torch;

namespace ParNet.Data;

/// <summary>
/// An <see cref="IBatchSource"/> over an <see cref="IImageDataset"/>: each epoch reshuffles, background
/// workers decode and augment whole batches into pooled float arrays (bounded prefetch), and the
/// consumer's thread turns each into ONE image tensor and ONE label tensor. Every sample's randomness
/// comes from (seed, epoch, data set index), so batches are identical for any number of workers.
/// </summary>
public sealed class DataLoader : IBatchSource
{
    readonly IImageDataset _dataset;
    readonly IImageTransform _transform;
    readonly int[] _indices;
    readonly ConcurrentBag<float[]> _bufferPool = new();
    int _skipped;

    public DataLoader(IImageDataset dataset, IImageTransform transform, LoaderOptions options)
    {
        if (options.BatchSize <= 0) throw new ArgumentException("batch size must be positive");
        if (options.Workers < 0) throw new ArgumentException("workers must be 0 or more");
        _dataset = options.Classes is { } classes ? new ClassSelection(dataset, classes) : dataset;
        dataset = _dataset;
        _transform = transform;
        Options = options;
        _indices = options.Subset?.Select(dataset) ?? Enumerable.Range(0, dataset.Count).ToArray();
        options.Shard?.Validate(_indices.Length);
        var input = dataset.FixedSize is { } size ? (dataset.Channels, size.Height, size.Width) : (dataset.Channels, 0, 0);
        var shape = transform.OutputShape(input);
        if (options.TenCrop is { } tenCrop) shape = (shape.Channels, tenCrop.Size, tenCrop.Size);
        if (shape.Height <= 0 || shape.Width <= 0)
            throw new ArgumentException("the transform does not fix the output size (images vary): end it with a crop or resize");
        ImageShape = shape;
    }

    public LoaderOptions Options { get; }
    public IImageDataset Dataset => _dataset;
    /// <summary>Images per epoch in this process (its shard's share when the data is sharded).</summary>
    public int Count => Options.Shard?.Length(_indices.Length) ?? _indices.Length;

    /// <summary>The images of the whole data set (after class selection and subsets), over every process's shard.</summary>
    public int DatasetCount => _indices.Length;
    public int BatchSize => Options.BatchSize;
    public (int Channels, int Height, int Width) ImageShape { get; }
    public IReadOnlyList<string> ClassNames => _dataset.ClassNames;

    /// <summary>Images per sample in the image tensor (10 with ten-crop, else 1).</summary>
    public int ViewsPerImage => Options.TenCrop is null ? 1 : TenCrop.Views;

    public int BatchesPerEpoch => Options.DropLast ? Count / BatchSize : (Count + BatchSize - 1) / BatchSize;

    /// <summary>Images dropped so far because they could not be decoded (only with SkipUnreadableImages).</summary>
    public int SkippedImages => Volatile.Read(ref _skipped);

    /// <summary>The data set indices of an epoch, in the order they are batched (this process's shard of it).</summary>
    public int[] EpochOrder(int epoch)
    {
        var order = (int[])_indices.Clone();
        if (Options.Shuffle) SampleRandom.For(Options.Seed, epoch, -1).Shuffle(order);
        return Options.Shard?.Select(order) ?? order;
    }

    public IEnumerable<Batch> Epoch(int epoch, CancellationToken cancel = default) => Epoch(epoch, 0, cancel);

    /// <summary>Batches <paramref name="startBatch"/>.. of an epoch; the ones before are never built.</summary>
    public IEnumerable<Batch> Epoch(int epoch, int startBatch, CancellationToken cancel = default)
    {
        int batches = BatchesPerEpoch;
        if (startBatch < 0 || startBatch > batches)
            throw new ArgumentOutOfRangeException(nameof(startBatch), startBatch, $"an epoch has {batches} batches");
        return Batches(epoch, startBatch, cancel);
    }

    IEnumerable<Batch> Batches(int epoch, int startBatch, CancellationToken cancel)
    {
        var order = EpochOrder(epoch);
        int batches = BatchesPerEpoch;
        if (Options.Workers == 0)
        {
            for (int b = startBatch; b < batches; b++)
            {
                cancel.ThrowIfCancellationRequested();
                yield return ToTensors(BuildBatch(order, epoch, b, cancel));
            }
            yield break;
        }
        using var run = new EpochRun(this, order, epoch, startBatch, batches, cancel);
        for (int b = startBatch; b < batches; b++)
        {
            cancel.ThrowIfCancellationRequested(); // a prefetched batch must not outrun a cancellation
            yield return ToTensors(run.Take(b));
        }
    }

    /// <summary>One batch decoded and augmented into managed arrays (a worker's whole job).</summary>
    internal PreparedBatch BuildBatch(int[] order, int epoch, int batchIndex, CancellationToken cancel)
    {
        int first = batchIndex * BatchSize, count = Math.Min(BatchSize, order.Length - first);
        int viewSize = ImageShape.Channels * ImageShape.Height * ImageShape.Width;
        int sampleSize = viewSize * ViewsPerImage;
        var pixels = count == BatchSize && _bufferPool.TryTake(out var pooled) ? pooled : new float[count * sampleSize];
        var labels = new long[count];
        int filled = 0;
        for (int i = 0; i < count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            int index = order[first + i];
            var random = SampleRandom.For(Options.Seed, epoch, index);
            ImageF image;
            try { image = Transformed(index, random); }
            catch (InvalidDataException) when (Options.SkipUnreadableImages)
            {
                Interlocked.Increment(ref _skipped);
                continue;
            }
            var views = Options.TenCrop is { } tenCrop ? tenCrop.Apply(image) : [image];
            for (int v = 0; v < views.Length; v++)
            {
                var view = views[v];
                if ((view.Channels, view.Height, view.Width) != ImageShape)
                    throw new InvalidOperationException($"image {index} came out {view.Channels}x{view.Height}x{view.Width}, expected {ImageShape}");
                Array.Copy(view.Data, 0, pixels, filled * sampleSize + v * viewSize, viewSize);
            }
            labels[filled++] = _dataset.LabelOf(index);
        }
        return new PreparedBatch(pixels, labels, filled, sampleSize);
    }

    /// <summary>Image <paramref name="index"/> decoded and transformed; a transform's refusal (an image too elongated for a
    /// resize: an audit of session 47) names the image, as the decoder's own errors do.</summary>
    ImageF Transformed(int index, SampleRandom random)
    {
        var decoded = _dataset.Load(index, Options.DecodeMinShortSide);
        try { return _transform.Apply(decoded, random); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{_dataset.NameOf(index)}: {e.Message}", e); }
    }

    Batch ToTensors(PreparedBatch prepared)
    {
        int n = prepared.Count, views = ViewsPerImage;
        var (c, h, w) = ImageShape;
        var pixels = prepared.Pixels;
        var labels = prepared.Labels;
        if (pixels.Length != n * prepared.SampleSize) // images were skipped: torch.tensor needs an exact length
        {
            Array.Resize(ref labels, n);
            pixels = prepared.Pixels.AsSpan(0, n * prepared.SampleSize).ToArray();
        }
        var images = tensor(pixels, [(long)n * views, c, h, w]); // copies, so the array goes back to the pool
        var labelTensor = tensor(labels, [(long)n]);
        if (prepared.Pixels.Length == BatchSize * prepared.SampleSize) _bufferPool.Add(prepared.Pixels);
        return new Batch(images, labelTensor);
    }

    internal sealed record PreparedBatch(float[] Pixels, long[] Labels, int Count, int SampleSize);
}
