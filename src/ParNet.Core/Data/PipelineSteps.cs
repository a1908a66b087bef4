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
        int padded = paddedSide ?? size;
        int content = CentredContent(model, size, padded - size);
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
        int content = CentredContent(model, size, 0);
        int shift = (int)Math.Round((double)cropPadding * size / side);
        if (content != FashionMnistSide) yield return new ResizeShortSide(content, ResampleFilter.Bicubic);
        yield return new RandomCrop(size, (size - content) / 2 + shift);
    }

    /// <summary>
    /// The side of the 28 px content scaled to network side <paramref name="size"/>, which must sit centred in
    /// size + <paramref name="extra"/> px: the margin around it must be even. ArgumentException otherwise, naming the
    /// nearest sizes that work (the content side is rounded: 40 gives 35 px, an odd margin; was "does not hold the
    /// content centred", which read as if the image were too small).
    /// </summary>
    static int CentredContent(ModelConfig model, int size, int extra)
    {
        int side = FashionSide(model);
        int Content(int s) => (int)Math.Round((double)FashionMnistSide * s / side);
        bool Fits(int s) => (s + extra - Content(s)) % 2 == 0;   // the content is never larger: FashionSide >= 28
        if (Fits(size)) return Content(size);
        int m = model.InputSizeMultiple;
        var multiples = Enumerable.Range(1, (size + 64 * m) / m).Select(k => k * m).Where(Fits).ToList();
        var near = multiples.Where(s => s < size).TakeLast(1).Concat(multiples.Where(s => s > size).Take(1));
        throw new ArgumentException($"image size {size}: the {FashionMnistSide} px Fashion-MNIST image scaled by {size}/{side} is {Content(size)} px, " +
                                    $"which leaves an odd margin of {size + extra - Content(size)} px and cannot sit centred; sizes that work near it: {string.Join(" or ", near)}");
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
