namespace ParNet.Data;

/// <summary>torchvision Resize(int): the short side becomes <see cref="ShortSide"/>, the long side int(size * long / short).</summary>
public sealed class ResizeShortSide(int shortSide, ResampleFilter filter = ResampleFilter.Bicubic) : IImageTransform
{
    public int ShortSide { get; } = shortSide;
    public ResampleFilter Filter { get; } = filter;

    public (int Height, int Width) TargetSize(int height, int width)
    {
        var (h, w) = TargetSizeLong(height, width);
        return ((int)h, (int)w);
    }

    /// <summary><see cref="TargetSize"/> past int's range (a 1 x 9,000,000 image's long side becomes 2,304,000,000 px).</summary>
    public (long Height, long Width) TargetSizeLong(int height, int width) => height <= width
        ? (ShortSide, (long)ShortSide * width / height)
        : ((long)ShortSide * height / width, ShortSide);

    public ImageF Apply(ImageF image, SampleRandom random)
    {
        var (longH, longW) = TargetSizeLong(image.Height, image.Width);
        // ten-crop resizes the whole image: a 100,000 x 1 image (0.1 MP, within the decoder's limit) came out 224 x 22,400,000
        // and overflowed ImageF's size, a stack trace (an audit of session 47); refused in the decoder's limit and words
        if (longH * longW > ImageFolderDataset.DefaultMaxPixels)
            throw new InvalidDataException($"{image.Height}x{image.Width} px, resized to a short side of {ShortSide}, would be {longH:N0}x{longW:N0}: " +
                                           $"more than the {ImageFolderDataset.DefaultMaxPixels / (1024 * 1024)} megapixels an image is limited to (too elongated for this resize)");
        var (h, w) = ((int)longH, (int)longW);
        return h == image.Height && w == image.Width ? image : Resampler.Resize(image, h, w, Filter);
    }

    public (int Channels, int Height, int Width) OutputShape((int Channels, int Height, int Width) input)
        => input.Height > 0 ? (input.Channels, TargetSize(input.Height, input.Width).Height, TargetSize(input.Height, input.Width).Width) : (input.Channels, 0, 0);
}

/// <summary>torchvision CenterCrop: top = round((H - size) / 2), left likewise (round half to even, as Python).</summary>
public sealed class CenterCrop(int size) : IImageTransform
{
    public int Size { get; } = size;

    public static (int Top, int Left) Offset(int height, int width, int cropHeight, int cropWidth)
    {
        var (top, left) = OffsetLong(height, width, cropHeight, cropWidth);
        return ((int)top, (int)left);
    }

    /// <summary><see cref="Offset"/> of a crop from an image whose sides pass int's range.</summary>
    public static (long Top, long Left) OffsetLong(long height, long width, int cropHeight, int cropWidth)
        => ((long)Math.Round((height - cropHeight) / 2.0), (long)Math.Round((width - cropWidth) / 2.0));

    public ImageF Apply(ImageF image, SampleRandom random)
    {
        var (top, left) = Offset(image.Height, image.Width, Size, Size);
        return image.Crop(top, left, Size, Size);
    }

    public (int Channels, int Height, int Width) OutputShape((int Channels, int Height, int Width) input) => (input.Channels, Size, Size);
}

/// <summary>
/// Evaluation preprocessing (timm/torchvision): resize the short side to floor(size / cropFraction)
/// bicubic, then centre-crop size x size. Crop fraction 0.875 gives the classic 256 -> 224.
/// </summary>
public sealed class ResizeCenterCrop(int size, double cropFraction = 0.875, ResampleFilter filter = ResampleFilter.Bicubic) : IImageTransform
{
    readonly ResizeShortSide _resize = new((int)Math.Floor(size / cropFraction), filter);

    public int Size { get; } = size;
    public int ResizeTo => _resize.ShortSide;

    public ImageF Apply(ImageF image, SampleRandom random) => ResizedCrop(image, _resize, Size);

    /// <summary>
    /// torchvision's <paramref name="resize"/> then CenterCrop(<paramref name="size"/>), computing only the pixels the crop
    /// keeps: each of them with the taps and weights of the whole image's resize (the box's scale is the resize's, its taps
    /// reach outside the box as they would), so the same numbers at a cost bounded by the crop, not by the image's long
    /// side. A 100000 x 1 upload was resized whole to 256 x 25,600,000 first (GBs, seconds; serve audit, session 40).
    /// </summary>
    public static ImageF ResizedCrop(ImageF image, ResizeShortSide resize, int size)
    {
        var (height, width) = resize.TargetSizeLong(image.Height, image.Width);
        if (size > resize.ShortSide) return new CenterCrop(size).Apply(resize.Apply(image, Fixed), Fixed);   // a crop larger than the resize: as before
        var (top, left) = CenterCrop.OffsetLong(height, width, size, size);
        if (height == image.Height && width == image.Width) return image.Crop((int)top, (int)left, size, size);
        double scaleY = (double)image.Height / height, scaleX = (double)image.Width / width;
        return Resampler.ResizeBox(image, top * scaleY, left * scaleX, size * scaleY, size * scaleX, size, size, resize.Filter);
    }

    static readonly SampleRandom Fixed = new(0);

    public (int Channels, int Height, int Width) OutputShape((int Channels, int Height, int Width) input) => (input.Channels, Size, Size);
}
