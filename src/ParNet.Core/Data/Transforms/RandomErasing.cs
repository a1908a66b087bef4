namespace ParNet.Data;

/// <summary>
/// timm RandomErasing, applied after Normalize: with probability <see cref="Probability"/>, one box of
/// area fraction uniform in [0.02, 1/3] and aspect ratio log-uniform in [0.3, 1/0.3] (10 tries) is
/// filled with per-pixel N(0, 1) noise (timm's "pixel" mode) or zeros (the normalized mean).
/// </summary>
public sealed class RandomErasing(double probability = 0.25, double minArea = 0.02, double maxArea = 1.0 / 3,
                                  double minAspect = 0.3, bool perPixelNoise = true) : IImageTransform
{
    public const int Attempts = 10;
    public double Probability { get; } = probability;
    public (double Min, double Max) Area { get; } = (minArea, maxArea);
    public (double Min, double Max) Aspect { get; } = (minAspect, 1 / minAspect);
    public bool PerPixelNoise { get; } = perPixelNoise;

    /// <summary>The box to erase, or null when this image is left alone.</summary>
    public (int Top, int Left, int Height, int Width)? SampleBox(int height, int width, SampleRandom random)
    {
        if (random.NextDouble() > Probability) return null;
        double area = (double)height * width;
        double logMin = Math.Log(Aspect.Min), logMax = Math.Log(Aspect.Max);
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            double target = random.Uniform(Area.Min, Area.Max) * area;
            double aspect = Math.Exp(random.Uniform(logMin, logMax));
            int h = (int)Math.Round(Math.Sqrt(target * aspect));
            int w = (int)Math.Round(Math.Sqrt(target / aspect));
            if (w < width && h < height)
                return (random.NextIntInclusive(0, height - h), random.NextIntInclusive(0, width - w), h, w);
        }
        return null;
    }

    public ImageF Apply(ImageF image, SampleRandom random)
    {
        var box = SampleBox(image.Height, image.Width, random);
        if (box is null) return image;
        var (top, left, h, w) = box.Value;
        for (int c = 0; c < image.Channels; c++)
            for (int y = top; y < top + h; y++)
            {
                var row = image.Data.AsSpan((c * image.Height + y) * image.Width + left, w);
                for (int x = 0; x < w; x++) row[x] = PerPixelNoise ? (float)random.NextGaussian() : 0f;
            }
        return image;
    }

    public (int Channels, int Height, int Width) OutputShape((int Channels, int Height, int Width) input) => input;
}
