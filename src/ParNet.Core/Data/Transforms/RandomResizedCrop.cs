namespace ParNet.Data;

/// <summary>
/// torchvision RandomResizedCrop, per image: a box of area fraction in <see cref="Scale"/> (default
/// 0.08-1, the Inception recipe) and aspect ratio log-uniform in <see cref="Ratio"/> (3/4-4/3), up to 10
/// tries, else a centre crop clamped to the ratio range; the box is resized to Size x Size (bilinear,
/// torchvision's default).
/// </summary>
public sealed class RandomResizedCrop(int size, double minScale = 0.08, double maxScale = 1.0,
                                      double minRatio = 3.0 / 4.0, double maxRatio = 4.0 / 3.0,
                                      ResampleFilter filter = ResampleFilter.Bilinear) : IImageTransform
{
    /// <summary>torchvision's number of rejection-sampling attempts before the centre fallback.</summary>
    public const int Attempts = 10;

    public int Size { get; } = size;
    public (double Min, double Max) Scale { get; } = (minScale, maxScale);
    public (double Min, double Max) Ratio { get; } = (minRatio, maxRatio);
    public ResampleFilter Filter { get; } = filter;

    /// <summary>
    /// The short side a source image may be decoded down to (JPEG and WebP decode at 1/2, 1/4, ...) with none of its crops
    /// losing resolution it has at full size: the smallest crop (least scale, most elongated ratio) of an image of that
    /// short side is still <see cref="Size"/> on its short side. 915 for 224 px; torchvision crops from the full image, and
    /// decoding down to the training side itself (as before 2026-12-06) upsampled 90% of the crops of a 640x480 image
    /// where torchvision upsamples 16% (data audit, session 40).
    /// </summary>
    public int SourceShortSideKept => (int)Math.Ceiling(Size / Math.Sqrt(Scale.Min * Math.Min(Ratio.Min, 1 / Ratio.Max)));

    /// <summary>The crop box (torchvision's get_params), in source pixels.</summary>
    public (int Top, int Left, int Height, int Width) SampleBox(int height, int width, SampleRandom random)
    {
        double area = (double)height * width;
        double logMin = Math.Log(Ratio.Min), logMax = Math.Log(Ratio.Max);
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            double targetArea = area * random.Uniform(Scale.Min, Scale.Max);
            double aspect = Math.Exp(random.Uniform(logMin, logMax));
            int w = (int)Math.Round(Math.Sqrt(targetArea * aspect));
            int h = (int)Math.Round(Math.Sqrt(targetArea / aspect));
            if (w > 0 && w <= width && h > 0 && h <= height)
            {
                int top = random.NextIntInclusive(0, height - h);
                int left = random.NextIntInclusive(0, width - w);
                return (top, left, h, w);
            }
        }
        double inRatio = (double)width / height;
        int cropW = width, cropH = height;
        if (inRatio < Ratio.Min) cropH = (int)Math.Round(cropW / Ratio.Min);
        else if (inRatio > Ratio.Max) cropW = (int)Math.Round(cropH * Ratio.Max);
        return ((height - cropH) / 2, (width - cropW) / 2, cropH, cropW);
    }

    public ImageF Apply(ImageF image, SampleRandom random)
    {
        var (top, left, h, w) = SampleBox(image.Height, image.Width, random);
        // torchvision's resized_crop crops, then resizes: the filter's taps stay inside the box. Resampling the box within
        // the whole image let a shrinking filter reach past its edges (1.8% of an 800x600 image's pixels, up to 20/255)
        return Resampler.ResizeBox(image, top, left, h, w, Size, Size, Filter, tapsInsideBox: true);
    }

    public (int Channels, int Height, int Width) OutputShape((int Channels, int Height, int Width) input) => (input.Channels, Size, Size);
}
