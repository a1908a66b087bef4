namespace ParNet.Data;

/// <summary>
/// Labelled images addressed by index. Labels are known without decoding; images are decoded on demand
/// (from memory or from files) and may be called from several threads at once.
/// </summary>
public interface IImageDataset
{
    int Count { get; }

    /// <summary>Channels of every decoded image (1 grey, 3 RGB).</summary>
    int Channels { get; }

    /// <summary>Height and width shared by all images, or null when they vary (image folders).</summary>
    (int Height, int Width)? FixedSize { get; }

    IReadOnlyList<string> ClassNames { get; }

    int LabelOf(int index);

    /// <summary>
    /// Image <paramref name="index"/> as [0, 1] floats. <paramref name="minShortSide"/> lets file decoders
    /// decode large images at a reduced scale whose short side stays at least that long (0 = full size).
    /// Throws InvalidDataException naming the file when the image cannot be decoded.
    /// </summary>
    ImageF Load(int index, int minShortSide = 0);

    /// <summary>What names image <paramref name="index"/> in an error about it (a file's path), when the error is not the
    /// decoder's own (a transform refusing it).</summary>
    string NameOf(int index) => $"image {index}";
}
