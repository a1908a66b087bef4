namespace ParNet.Data;

/// <summary>(x - mean[c]) / std[c] per channel, in place. Mean/std come from <see cref="DatasetInfo"/>.</summary>
public sealed class Normalize : IImageTransform
{
    public float[] Mean { get; }
    public float[] Std { get; }

    public Normalize(float[] mean, float[] std)
    {
        if (mean.Length != std.Length || mean.Length == 0) throw new ArgumentException("mean and std need one value per channel");
        if (std.Any(s => s <= 0)) throw new ArgumentException("std must be positive");
        Mean = mean;
        Std = std;
    }

    public ImageF Apply(ImageF image, SampleRandom random)
    {
        if (image.Channels != Mean.Length)
            throw new ArgumentException($"Normalize has {Mean.Length} channel(s), the image {image.Channels}");
        int plane = image.PlaneSize;
        for (int c = 0; c < image.Channels; c++)
        {
            float mean = Mean[c], inverseStd = 1f / Std[c];
            var span = image.Data.AsSpan(c * plane, plane);
            for (int i = 0; i < span.Length; i++) span[i] = (span[i] - mean) * inverseStd;
        }
        return image;
    }

    public (int Channels, int Height, int Width) OutputShape((int Channels, int Height, int Width) input) => input;
}
