using ParNet.Data;
using ParNet.Models;

namespace ParNet.Export;

/// <summary>
/// The evaluation transform of a deployed model, for one image file:
///   grey data sets (Fashion-MNIST, MNIST): decode, to grey (luma), resize to 28x28, then as `parnet eval` feeds the
///     network: content scaled to the input side, centred zero padding (28 -> 32 for the CIFAR layout), replicated
///     to 3 channels if the model takes RGB, normalized with the data set's statistics;
///   RGB: decode, resize the short side to size/0.875 (bicubic) and centre-crop size x size (an image already
///     size x size, e.g. CIFAR's, is used as is), normalized with the data set's (default: ImageNet) statistics.
/// </summary>
public sealed class DeploymentPreprocessing
{
    readonly IImageTransform _transform;
    readonly bool _grey;

    /// <summary>The transform for <paramref name="model"/> at side <paramref name="imageSize"/>, which the model must take
    /// (ArgumentException otherwise: a side of 30 prepared 30x30 images that only the forward pass refused).</summary>
    public DeploymentPreprocessing(ModelConfig model, DeploymentInfo info, int imageSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(info);
        model.CheckImageSize(imageSize, imageSize);
        info = (info with { Model = info.Model ?? model }).Completed();   // a grey model's default statistics are grey ones
        Size = imageSize;
        StatisticsGuessed = info.StatisticsGuessed;
        var known = DeploymentInfo.KnownDataset(info.Dataset);
        _grey = known is not null ? known.Mean.Length == 1 : model.InChannels == 1;
        var steps = new List<IImageTransform>();
        if (_grey) steps.AddRange(PipelineSteps.FashionContent(model, imageSize));   // as `parnet eval` places the 28 px content
        else steps.Add(new ResizeUnlessExactly(imageSize));
        steps.AddRange(PipelineSteps.Normalize(info.Dataset ?? "the data", info.Mean!, info.Std!, model.InChannels));
        _transform = new Compose(steps.ToArray());
        Description = string.Join("; ", Describe(steps, imageSize, model.InChannels, info.StatisticsGuessed));
    }

    /// <summary>Where an exported .onnx file says how its input is made (<see cref="Description"/>): its other metadata
    /// names the side and statistics, not that a 28 px image is zero-padded before it is normalized, nor the resize and crop
    /// of an RGB one; the same file scored 88.2% prepared so, 85.0% padded after normalizing and 76.4% resized 28 -> 32
    /// (an export audit of session 48).</summary>
    public const string MetadataKey = "parnet.preprocessing";

    /// <summary>The steps in words, for a front end in another language: "decode, pixels scaled to [0, 1]; ...".</summary>
    public string Description { get; }

    IEnumerable<string> Describe(List<IImageTransform> steps, int size, int channels, bool statisticsGuessed)
    {
        const int fashion = PipelineSteps.FashionMnistSide;
        yield return "decode, pixels scaled to [0, 1]";
        if (_grey)
        {
            yield return "to grey (ITU-R 601 luma: 0.299 R + 0.587 G + 0.114 B)";
            yield return $"unless {fashion}x{fashion}, resize the short side to {fashion} (bicubic) and centre-crop {fashion}x{fashion}";
        }
        foreach (var step in steps)
            yield return step switch
            {
                ResizeShortSide r => $"resize the short side to {r.ShortSide} ({r.Filter.ToString().ToLowerInvariant()})",
                RandomCrop c => $"pad every side with {c.Padding} px of {c.Fill} (before normalizing) to {c.Size}x{c.Size}",
                ResizeUnlessExactly => $"unless {size}x{size}, resize the short side to {(int)Math.Floor(size / 0.875)} (bicubic) and centre-crop {size}x{size}",
                ToChannels { Channels: 3 } => "replicate the grey channel to 3",
                ToChannels => "to grey (ITU-R 601 luma)",
                Normalize n when statisticsGuessed => $"(x - {Numbers(n.Mean)}) / {Numbers(n.Std)} per channel (statistics guessed: none were stored)",
                Normalize n => $"(x - {Numbers(n.Mean)}) / {Numbers(n.Std)} per channel",
                _ => throw new InvalidOperationException($"no words for the step {step.GetType().Name}"),
            };
        yield return $"float32 [N, {channels}, {size}, {size}] (channels first)";
    }

    static string Numbers(float[] values) => "[" + string.Join(", ", values.Select(v => v.ToString("G6", System.Globalization.CultureInfo.InvariantCulture))) + "]";

    public int Size { get; }
    /// <summary>Whether it normalizes with guessed statistics (<see cref="DeploymentInfo.StatisticsGuessed"/>): neither the
    /// weights nor the data set it was made for give them.</summary>
    public bool StatisticsGuessed { get; }

    /// <summary>The network input for one file, [C, size, size]; InvalidDataException naming the file when it cannot be read.</summary>
    public ImageF Load(string path) => Prepare(ImageFolderDataset.Decode(path, DecodeShortSide, grey: _grey));

    /// <summary>
    /// The network input for encoded image bytes (an upload); <paramref name="name"/> names them in errors. Undecodable
    /// bytes, and more than <paramref name="maxPixels"/> declared pixels (refused before they are allocated), are an
    /// InvalidDataException.
    /// </summary>
    public ImageF Load(byte[] encoded, string name, long maxPixels = ImageFolderDataset.DefaultMaxPixels) =>
        Prepare(ImageFolderDataset.Decode(encoded, name, DecodeShortSide, maxPixels, _grey));

    /// <summary>The short side the codec may scale down to: the resize's input (size/0.875) for RGB; grey images keep theirs.</summary>
    int DecodeShortSide => _grey ? 0 : (int)Math.Floor(Size / 0.875);

    ImageF Prepare(ImageF image)
    {
        if (_grey)   // decoded to grey (the luma, as PIL's convert("L"))
        {
            if (image.Height != PipelineSteps.FashionMnistSide || image.Width != PipelineSteps.FashionMnistSide)
                image = ResizeCenterCrop.ResizedCrop(image, new ResizeShortSide(PipelineSteps.FashionMnistSide, ResampleFilter.Bicubic), PipelineSteps.FashionMnistSide);
        }
        return _transform.Apply(image, Fixed);
    }

    static readonly SampleRandom Fixed = new(0);

    sealed class ResizeUnlessExactly(int size) : IImageTransform
    {
        readonly ResizeCenterCrop _resize = new(size);

        public ImageF Apply(ImageF image, SampleRandom random) =>
            image.Height == size && image.Width == size ? image : _resize.Apply(image, random);

        public (int Channels, int Height, int Width) OutputShape((int Channels, int Height, int Width) input) => (input.Channels, size, size);
    }
}
