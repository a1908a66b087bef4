namespace ParNet.Data;

/// <summary>
/// torchvision RandomCrop(size, padding): pad every side with <see cref="Fill"/> (0 = black, as torchvision),
/// then cut size x size at a uniformly random offset. The CIFAR/Fashion-MNIST "shift" augmentation.
/// </summary>
public sealed class RandomCrop(int size, int padding, float fill = 0f) : IImageTransform
{
    public int Size { get; } = size;
    public int Padding { get; } = padding;
    public float Fill { get; } = fill;

    /// <summary>Top-left corner of the crop in padded coordinates, each in [0, padded - size].</summary>
    public (int Top, int Left) SampleOffset(int height, int width, SampleRandom random)
    {
        int rangeY = height + 2 * Padding - Size, rangeX = width + 2 * Padding - Size;
        if (rangeY < 0 || rangeX < 0)
            throw new ArgumentException($"crop {Size} is larger than the padded image {height + 2 * Padding}x{width + 2 * Padding}");
        int top = random.NextIntInclusive(0, rangeY);
        int left = random.NextIntInclusive(0, rangeX);
        return (top, left);
    }

    public ImageF Apply(ImageF image, SampleRandom random)
    {
        var (top, left) = SampleOffset(image.Height, image.Width, random);
        var result = new ImageF(image.Channels, Size, Size);
        for (int c = 0; c < image.Channels; c++)
            for (int y = 0; y < Size; y++)
            {
                int sy = top + y - Padding;
                var outRow = result.Data.AsSpan((c * Size + y) * Size, Size);
                if (sy < 0 || sy >= image.Height) { outRow.Fill(Fill); continue; }
                for (int x = 0; x < Size; x++)
                {
                    int sx = left + x - Padding;
                    outRow[x] = sx < 0 || sx >= image.Width ? Fill : image.Data[(c * image.Height + sy) * image.Width + sx];
                }
            }
        return result;
    }

    public (int Channels, int Height, int Width) OutputShape((int Channels, int Height, int Width) input) => (input.Channels, Size, Size);
}

/// <summary>Mirror left-right with probability <see cref="Probability"/> (0.5: either way equally likely).</summary>
public sealed class HorizontalFlip(double probability = 0.5) : IImageTransform
{
    public double Probability { get; } = probability;

    public ImageF Apply(ImageF image, SampleRandom random)
    {
        if (random.NextDouble() < Probability) image.FlipHorizontalInPlace();
        return image;
    }

    public (int Channels, int Height, int Width) OutputShape((int Channels, int Height, int Width) input) => input;
}
