namespace ParNet.Data;

/// <summary>
/// torchvision TenCrop for testing: the four corner crops and the centre crop, then the same five of the
/// mirrored image. Order: top-left, top-right, bottom-left, bottom-right, centre, then mirrored.
/// A loader with ten-crop yields Images [N*10, C, H, W] (the 10 views of a sample are consecutive) and
/// Labels [N]; average the predictions with <see cref="AverageViews"/>.
/// </summary>
public sealed class TenCrop(int size)
{
    public const int Views = 10;
    public int Size { get; } = size;

    public ImageF[] Apply(ImageF image)
    {
        if (image.Height < Size || image.Width < Size)
            throw new ArgumentException($"ten-crop {Size} needs an image at least that large, got {image.Height}x{image.Width}");
        var views = new ImageF[Views];
        FiveCrop(image, views, 0);
        var mirrored = image.Clone();
        mirrored.FlipHorizontalInPlace();
        FiveCrop(mirrored, views, 5);
        return views;
    }

    void FiveCrop(ImageF image, ImageF[] views, int first)
    {
        int bottom = image.Height - Size, right = image.Width - Size;
        views[first] = image.Crop(0, 0, Size, Size);
        views[first + 1] = image.Crop(0, right, Size, Size);
        views[first + 2] = image.Crop(bottom, 0, Size, Size);
        views[first + 3] = image.Crop(bottom, right, Size, Size);
        var (top, left) = CenterCrop.Offset(image.Height, image.Width, Size, Size);
        views[first + 4] = image.Crop(top, left, Size, Size);
    }

    /// <summary>Mean over the views of per-view outputs [N*views, K] -> [N, K].</summary>
    public static TorchSharp.torch.Tensor AverageViews(TorchSharp.torch.Tensor outputs, int views = Views)
        => outputs.view(-1, views, outputs.shape[^1]).mean([1L]);
}

/// <summary>
/// Feeds grey images to RGB models (replicate the channel) or colour images to 1-channel models
/// (ITU-R 601 luma, as PIL's convert("L")); identity when the counts already match.
/// </summary>
public sealed class ToChannels(int channels) : IImageTransform
{
    public int Channels { get; } = channels;

    public ImageF Apply(ImageF image, SampleRandom random)
    {
        if (image.Channels == Channels) return image;
        int plane = image.PlaneSize;
        if (image.Channels == 1 && Channels == 3)
        {
            var rgb = new ImageF(3, image.Height, image.Width);
            for (int c = 0; c < 3; c++) Array.Copy(image.Data, 0, rgb.Data, c * plane, plane);
            return rgb;
        }
        if (image.Channels == 3 && Channels == 1)
        {
            var grey = new ImageF(1, image.Height, image.Width);
            for (int i = 0; i < plane; i++)
                grey.Data[i] = 0.299f * image.Data[i] + 0.587f * image.Data[plane + i] + 0.114f * image.Data[2 * plane + i];
            return grey;
        }
        throw new ArgumentException($"cannot convert {image.Channels} channels to {Channels}");
    }

    public (int Channels, int Height, int Width) OutputShape((int Channels, int Height, int Width) input) => (Channels, input.Height, input.Width);
}
