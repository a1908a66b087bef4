namespace ParNet.Data;

/// <summary>
/// Labelled images addressed by index. Labels are known without decoding; images are decoded on demand
/// (from memory or from files) and may be called from several threads at once.
/// </summary>
public interface IImageDataset
{
    int Count { get; }

    /// <summary>Channels of every decoded image (1 grey, 3 RGB).</summary>
    int Channels { get; }

    /// <summary>Height and width shared by all images, or null when they vary (image folders).</summary>
    (int Height, int Width)? FixedSize { get; }

    IReadOnlyList<string> ClassNames { get; }

    int LabelOf(int index);

    /// <summary>
    /// Image <paramref name="index"/> as [0, 1] floats. <paramref name="minShortSide"/> lets file decoders
    /// decode large images at a reduced scale whose short side stays at least that long (0 = full size).
    /// Throws InvalidDataException naming the file when the image cannot be decoded.
    /// </summary>
    ImageF Load(int index, int minShortSide = 0);
}

/// <summary>
/// Images held in memory as ONE byte array, planar per image (C, H, W), as IDX and CIFAR store them.
/// 60k Fashion-MNIST images take 47 MB this way instead of ~190 MB as floats.
/// </summary>
public sealed class InMemoryImageDataset : IImageDataset
{
    readonly byte[] _pixels;
    readonly byte[] _labels;

    public InMemoryImageDataset(byte[] pixels, byte[] labels, int channels, int height, int width, IReadOnlyList<string> classNames)
    {
        long imageBytes = (long)channels * height * width;
        if (imageBytes <= 0 || pixels.LongLength != imageBytes * labels.LongLength)
            throw new ArgumentException($"{pixels.LongLength} pixel bytes do not hold {labels.Length} images of {channels}x{height}x{width}");
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] >= classNames.Count)
                throw new ArgumentException($"label {labels[i]} of image {i} is out of range for {classNames.Count} classes");
        _pixels = pixels;
        _labels = labels;
        Channels = channels;
        Height = height;
        Width = width;
        ClassNames = classNames;
    }

    public int Count => _labels.Length;
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public (int Height, int Width)? FixedSize => (Height, Width);
    public IReadOnlyList<string> ClassNames { get; }
    public int LabelOf(int index) => _labels[index];

    /// <summary>The raw bytes of image <paramref name="index"/> (planar C, H, W).</summary>
    public ReadOnlySpan<byte> PixelsOf(int index)
    {
        int size = Channels * Height * Width;
        return new ReadOnlySpan<byte>(_pixels, checked(index * size), size);
    }

    public ImageF Load(int index, int minShortSide = 0) => ImageF.FromPlanarBytes(PixelsOf(index), Channels, Height, Width);

    /// <summary>Per-channel mean and standard deviation of all pixels, in [0, 1] units.</summary>
    public (double[] Mean, double[] Std) ComputeMeanStd()
    {
        var mean = new double[Channels];
        var std = new double[Channels];
        int plane = Height * Width;
        for (int c = 0; c < Channels; c++)
        {
            long sum = 0, sumSquares = 0;
            for (int i = 0; i < Count; i++)
            {
                var span = new ReadOnlySpan<byte>(_pixels, (i * Channels + c) * plane, plane);
                foreach (byte b in span) { sum += b; sumSquares += b * b; }
            }
            double n = (double)Count * plane;
            double m = sum / n;
            mean[c] = m / 255.0;
            std[c] = Math.Sqrt(Math.Max(0, sumSquares / n - m * m)) / 255.0;
        }
        return (mean, std);
    }
}
