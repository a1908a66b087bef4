using ParNet.Export;
using ParNet.Runtime;

namespace ParNet.Inference;

public sealed partial class ImagePredictor
{
    /// <summary>The imageSize parameter of <see cref="Preprocessing"/>, as <see cref="SettingNames"/> names settings.</summary>
    public const string ImageSizeSetting = "ImagePredictor.Preprocessing's imageSize";

    /// <summary>
    /// The preprocessing of this predictor's inputs and the names of its classes: from the stored metadata (<see cref="Info"/>),
    /// or from the data set <paramref name="dataset"/> names (<see cref="DeploymentInfo.WithDataset"/>); the side from the
    /// ONNX graph (<see cref="FixedSize"/>), <paramref name="imageSize"/>, the metadata (<see cref="DeploymentInfo.SideFor"/>) or the model's natural size, in that
    /// order. <see cref="InvalidSettingException"/> for a data set that does not fit the model (of
    /// <see cref="DeploymentInfo.DatasetSetting"/>) and for a side the model refuses or that cannot fit in memory (of
    /// <see cref="ImageSizeSetting"/>; <see cref="CheckImageFits"/>).
    /// </summary>
    public (DeploymentPreprocessing Preprocessing, IReadOnlyList<string> ClassNames) Preprocessing(string? dataset = null, int? imageSize = null)
    {
        var info = dataset is null ? Info : Info.WithDataset(Config, dataset);
        int side = FixedSize ?? imageSize ?? info.SideFor(Config) ?? Config.DefaultImageSize;
        if (imageSize is int requested && requested != side)
            throw new InvalidSettingException(ImageSizeSetting, n => $"{n.Given(ImageSizeSetting, requested)}: the ONNX model was exported for {side}x{side}");
        int multiple = Config.InputSizeMultiple;
        if (side < multiple || side % multiple != 0)
            throw new InvalidSettingException(ImageSizeSetting, _ => $"image size {side}: {Config.Name} needs a multiple of {multiple}");
        try { CheckImageFits(side); }
        catch (ArgumentException e) { throw new InvalidSettingException(ImageSizeSetting, _ => $"image size {side}: {e.Message}", e); }
        // a side the model takes that the preprocessing cannot place: Fashion-MNIST's content centred at 40 (an odd margin)
        try { return (new DeploymentPreprocessing(Config, info, side), info.ClassNames ?? []); }
        catch (ArgumentException e) { throw new InvalidSettingException(ImageSizeSetting, _ => e.Message, e); }
    }
}
