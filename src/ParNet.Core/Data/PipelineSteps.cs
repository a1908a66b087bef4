using ParNet.Models;

namespace ParNet.Data;

/// <summary>
/// The transform rules shared by training, evaluation and deployment (predict/export), written once so they
/// cannot diverge: where Fashion-MNIST's 28 px content sits in the network input, and normalization with
/// channel adaptation (grey data for an RGB model and back).
/// </summary>
public static class PipelineSteps
{
    /// <summary>Fashion-MNIST's image side.</summary>
    public const int FashionMnistSide = 28;

    /// <summary>The side the network sees for Fashion-MNIST's 28 px images: 28 rounded up to the model's input multiple
    /// (32 for the CIFAR layout).</summary>
    public static int FashionSide(ModelConfig model)
    {
        int m = model.InputSizeMultiple;
        return (FashionMnistSide + m - 1) / m * m;
    }

    /// <summary>
    /// Fashion-MNIST content at network side <paramref name="size"/>: the 28 px image scaled by size / <see cref="FashionSide"/>
    /// (bicubic; not resized at the training side) and zero-padded, centred, to <paramref name="paddedSide"/> (default: size).
    /// ArgumentException when the content cannot sit centred.
    /// </summary>
    public static IEnumerable<IImageTransform> FashionContent(ModelConfig model, int size, int? paddedSide = null)
    {
        int content = (int)Math.Round((double)FashionMnistSide * size / FashionSide(model));
        int padded = paddedSide ?? size;
        if ((padded - content) % 2 != 0 || content > padded)
            throw new ArgumentException($"image size {size} does not hold the {content}-pixel Fashion-MNIST content centred in {padded} px");
        var steps = new List<IImageTransform>();
        if (content != FashionMnistSide) steps.Add(new ResizeShortSide(content, ResampleFilter.Bicubic));
        steps.Add(new RandomCrop(padded, (padded - content) / 2));   // centred zero padding: a single crop is possible
        return steps;
    }

    /// <summary>
    /// Fashion-MNIST training content at network side <paramref name="size"/>: the 28 px image scaled by size / <see cref="FashionSide"/>
    /// (bicubic; not resized at the training side), zero-padded and randomly cropped to the side, shifted by up to
    /// <paramref name="cropPadding"/> pixels at the training side (scaled with the size, so every size sees the same relative shift).
    /// </summary>
    public static IEnumerable<IImageTransform> FashionTrainCrop(ModelConfig model, int size, int cropPadding)
    {
        int side = FashionSide(model);
        int content = (int)Math.Round((double)FashionMnistSide * size / side);
        if ((size - content) % 2 != 0 || content > size)
            throw new ArgumentException($"image size {size} does not hold the {content}-pixel Fashion-MNIST content centred");
        int shift = (int)Math.Round((double)cropPadding * size / side);
        if (content != FashionMnistSide) yield return new ResizeShortSide(content, ResampleFilter.Bicubic);
        yield return new RandomCrop(size, (size - content) / 2 + shift);
    }

    /// <summary>Normalization with the statistics of <paramref name="info"/> for a <paramref name="channels"/>-channel model.</summary>
    public static IEnumerable<IImageTransform> Normalize(DatasetInfo info, int channels) => Normalize(info.Name, info.Mean, info.Std, channels);

    /// <summary>
    /// Normalize with <paramref name="mean"/>/<paramref name="std"/>; when the model takes another channel count (1 vs 3),
    /// first replicates grey (or averages RGB) and normalizes every channel with the averaged statistics.
    /// ArgumentException for any other channel mismatch.
    /// </summary>
    public static IEnumerable<IImageTransform> Normalize(string dataName, float[] mean, float[] std, int channels)
    {
        if (channels == mean.Length) return [new Normalize(mean, std)];
        if (!(channels == 3 && mean.Length == 1) && !(channels == 1 && mean.Length == 3))
            throw new ArgumentException($"{dataName} has {mean.Length} channel(s); the model takes {channels}");
        return [new ToChannels(channels),
                new Normalize(Enumerable.Repeat(mean.Average(), channels).ToArray(), Enumerable.Repeat(std.Average(), channels).ToArray())];
    }
}
