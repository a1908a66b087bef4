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
    }

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
