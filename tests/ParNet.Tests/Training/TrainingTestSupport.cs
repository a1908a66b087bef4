using ParNet.Data;
using ParNet.Models;
using static TorchSharp.torch;

namespace ParNet.Tests.Training;

/// <summary>An in-memory batch source: fixed images and labels, reshuffled per epoch by (seed, epoch).</summary>
sealed class SyntheticSource : IBatchSource
{
    readonly float[] _images;
    readonly long[] _labels;
    readonly int _seed;
    readonly bool _shuffle;

    public SyntheticSource(float[] images, long[] labels, (int C, int H, int W) shape, int batchSize, int classes, bool shuffle = true, int seed = 0)
    {
        _images = images; _labels = labels; ImageShape = shape; BatchSize = batchSize; _shuffle = shuffle; _seed = seed;
        ClassNames = Enumerable.Range(0, classes).Select(i => $"c{i}").ToArray();
    }

    /// <summary>Function of the epoch that may replace the images (e.g. poison them with NaN).</summary>
    public Func<int, float[], float[]>? Corrupt { get; set; }

    /// <summary>count images of the given shape, class = i % classes, each class a distinct random pattern plus noise.</summary>
    public static SyntheticSource Patterns(int count, int classes, int side, int batchSize, int channels = 1, double noise = 0.3, int seed = 1)
    {
        var rng = new Random(seed);
        int size = channels * side * side;
        var protos = Enumerable.Range(0, classes).Select(_ => Enumerable.Range(0, size).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray()).ToArray();
        var images = new float[count * size];
        var labels = new long[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = i % classes;
            for (int j = 0; j < size; j++) images[i * size + j] = protos[i % classes][j] + (float)((rng.NextDouble() * 2 - 1) * noise);
        }
        return new SyntheticSource(images, labels, (channels, side, side), batchSize, classes);
    }

    public int Count => _labels.Length;
    public int BatchSize { get; }
    public (int Channels, int Height, int Width) ImageShape { get; }
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Batches built so far (a resume must not build the batches it skips).</summary>
    public int BatchesBuilt { get; private set; }

    public IEnumerable<Batch> Epoch(int epoch, CancellationToken cancel = default) => Epoch(epoch, 0, cancel);

    public IEnumerable<Batch> Epoch(int epoch, int startBatch, CancellationToken cancel = default)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        if (_shuffle) new Random(_seed * 1000 + epoch).Shuffle(order);
        var images = Corrupt?.Invoke(epoch, _images) ?? _images;
        int size = ImageShape.Channels * ImageShape.Height * ImageShape.Width;
        for (int first = startBatch * BatchSize; first < Count; first += BatchSize)
        {
            cancel.ThrowIfCancellationRequested();
            int n = Math.Min(BatchSize, Count - first);
            var x = new float[n * size];
            var y = new long[n];
            for (int i = 0; i < n; i++)
            {
                Array.Copy(images, order[first + i] * size, x, i * size, size);
                y[i] = _labels[order[first + i]];
            }
            BatchesBuilt++;
            yield return new Batch(tensor(x, [n, ImageShape.Channels, ImageShape.Height, ImageShape.Width]), tensor(y, [(long)n]));
        }
    }
}

static class TinyModels
{
    /// <summary>A tiny ParNet (CIFAR layout, 3 streams, width w) for 1-channel 8x8 images.</summary>
    public static ModelConfig Config(int width = 4, int classes = 4, double blockDropout = 0, int inChannels = 1) => new ModelConfig
    {
        Name = "tiny",
        Layout = Layout.Cifar,
        Planes = [width, 2 * width, 4 * width],
        FinalWidth = 4 * width,
        BlocksPerStream = [1, 1, 1],
        NumClasses = classes,
        InChannels = inChannels,
        BlockDropout = blockDropout,
    }.Validate();
}

sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("parnet-train-").FullName;
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}
