namespace ParNet.Data;

/// <summary>
/// One image as planar float32 (channel, row, column), values in [0, 1] before normalization.
/// The unit of work of every transform: plain managed memory, no tensors.
/// </summary>
public sealed class ImageF
{
    public float[] Data { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int PlaneSize => Height * Width;

    public ImageF(int channels, int height, int width)
        : this(new float[checked(channels * height * width)], channels, height, width) { }

    public ImageF(float[] data, int channels, int height, int width)
    {
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new ArgumentException($"image dimensions must be positive, got {channels}x{height}x{width}");
        if (data.Length != channels * height * width)
            throw new ArgumentException($"{data.Length} values do not fill a {channels}x{height}x{width} image");
        Data = data;
        Channels = channels;
        Height = height;
        Width = width;
    }

    public float this[int c, int y, int x]
    {
        get => Data[(c * Height + y) * Width + x];
        set => Data[(c * Height + y) * Width + x] = value;
    }

    /// <summary>Planar bytes (C, H, W) to [0, 1] floats.</summary>
    public static ImageF FromPlanarBytes(ReadOnlySpan<byte> pixels, int channels, int height, int width)
    {
        var image = new ImageF(channels, height, width);
        if (pixels.Length != image.Data.Length)
            throw new ArgumentException($"{pixels.Length} bytes do not fill a {channels}x{height}x{width} image");
        const float inv255 = 1f / 255f;
        for (int i = 0; i < pixels.Length; i++) image.Data[i] = pixels[i] * inv255;
        return image;
    }

    public ImageF Clone() => new((float[])Data.Clone(), Channels, Height, Width);

    /// <summary>The rectangle [top, top+height) x [left, left+width), which must lie inside the image.</summary>
    public ImageF Crop(int top, int left, int height, int width)
    {
        if (top < 0 || left < 0 || top + height > Height || left + width > Width)
            throw new ArgumentOutOfRangeException(nameof(top), $"crop {left},{top} {width}x{height} leaves a {Width}x{Height} image");
        var result = new ImageF(Channels, height, width);
        for (int c = 0; c < Channels; c++)
            for (int y = 0; y < height; y++)
                Array.Copy(Data, (c * Height + top + y) * Width + left, result.Data, (c * height + y) * width, width);
        return result;
    }

    /// <summary>Mirror left-right in place.</summary>
    public void FlipHorizontalInPlace()
    {
        for (int row = 0; row < Channels * Height; row++)
            Array.Reverse(Data, row * Width, Width);
    }
}
