namespace ParNet.Data;

/// <summary>
/// One step of per-image preprocessing on managed floats. <see cref="Apply"/> may modify its input and
/// return it, or return a new image. All randomness comes from the per-sample generator passed in.
/// </summary>
public interface IImageTransform
{
    ImageF Apply(ImageF image, SampleRandom random);

    /// <summary>The (channels, height, width) produced from an input of this shape; height/width 0 = varies.</summary>
    (int Channels, int Height, int Width) OutputShape((int Channels, int Height, int Width) input);
}

/// <summary>Transforms applied in order.</summary>
public sealed class Compose(params IImageTransform[] steps) : IImageTransform
{
    public IReadOnlyList<IImageTransform> Steps { get; } = steps;

    public ImageF Apply(ImageF image, SampleRandom random)
    {
        foreach (var step in Steps) image = step.Apply(image, random);
        return image;
    }

    public (int Channels, int Height, int Width) OutputShape((int Channels, int Height, int Width) input)
    {
        foreach (var step in Steps) input = step.OutputShape(input);
        return input;
    }
}
