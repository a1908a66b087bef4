using SkiaSharp;

namespace ParNet.Data;

/// <summary>
/// An ImageNet-style folder: one subfolder per class, label ids in ordinal order of the folder names,
/// JPEG, PNG and WebP files decoded with SkiaSharp into RGB. Large images are decoded at a reduced
/// scale (JPEG decodes in 1/8 steps) when the caller says how small they may get.
/// </summary>
public sealed class ImageFolderDataset : IImageDataset
{
    /// <summary>Extensions SkiaSharp decodes here; other files in class folders are ignored.</summary>
    static readonly HashSet<string> ImageExtensions = new(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".webp" };

    readonly string[] _files;
    readonly int[] _labels;

    public ImageFolderDataset(string root)
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"{root}: image folder not found");
        var classDirs = Directory.GetDirectories(root).OrderBy(d => Path.GetFileName(d), StringComparer.Ordinal).ToArray();
        if (classDirs.Length == 0) throw new InvalidDataException($"{root}: no class subfolders");
        var files = new List<string>();
        var labels = new List<int>();
        for (int label = 0; label < classDirs.Length; label++)
        {
            var images = Directory.EnumerateFiles(classDirs[label])
                .Where(f => ImageExtensions.Contains(Path.GetExtension(f)))
                .OrderBy(f => f, StringComparer.Ordinal).ToList();
            if (images.Count == 0) throw new InvalidDataException($"{classDirs[label]}: empty class folder (no .jpg/.jpeg/.png/.webp files)");
            files.AddRange(images);
            labels.AddRange(Enumerable.Repeat(label, images.Count));
        }
        _files = files.ToArray();
        _labels = labels.ToArray();
        ClassNames = classDirs.Select(d => Path.GetFileName(d)!).ToArray();
    }

    public int Count => _files.Length;
    public int Channels => 3;
    public (int Height, int Width)? FixedSize => null;
    public IReadOnlyList<string> ClassNames { get; }
    public int LabelOf(int index) => _labels[index];
    public string PathOf(int index) => _files[index];

    public ImageF Load(int index, int minShortSide = 0) => Decode(_files[index], minShortSide);

    /// <summary>
    /// Decodes a file to RGB [0, 1]. With <paramref name="minShortSide"/> &gt; 0 the codec may scale down,
    /// keeping the short side at least that long. Any failure is an InvalidDataException naming the file.
    /// </summary>
    public static ImageF Decode(string path, int minShortSide = 0)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new InvalidDataException($"{path}: unreadable ({e.Message})", e); }
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data)
            ?? throw new InvalidDataException($"{path}: not a decodable image (unknown format or corrupt header)");
        var full = codec.Info;
        if (full.Width <= 0 || full.Height <= 0)
            throw new InvalidDataException($"{path}: image has no pixels ({full.Width}x{full.Height})");
        var size = DecodeSize(codec, minShortSide);
        var info = new SKImageInfo(size.Width, size.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[info.BytesSize];
        SKCodecResult result;
        unsafe
        {
            fixed (byte* p = rgba) result = codec.GetPixels(info, (IntPtr)p);
        }
        if (result != SKCodecResult.Success)
            throw new InvalidDataException($"{path}: decoding failed ({result})");
        return FromRgba(rgba, size.Height, size.Width);
    }

    static SKSizeI DecodeSize(SKCodec codec, int minShortSide)
    {
        var full = new SKSizeI(codec.Info.Width, codec.Info.Height);
        int shortSide = Math.Min(full.Width, full.Height);
        if (minShortSide <= 0 || shortSide <= minShortSide) return full;
        var scaled = codec.GetScaledDimensions((float)minShortSide / shortSide);
        // Codecs round their supported scales; never accept one that lands below the requested size.
        return Math.Min(scaled.Width, scaled.Height) >= minShortSide && scaled.Width > 0 ? scaled : full;
    }

    static ImageF FromRgba(byte[] rgba, int height, int width)
    {
        var image = new ImageF(3, height, width);
        int plane = height * width;
        var d = image.Data;
        const float inv255 = 1f / 255f;
        for (int i = 0, p = 0; i < plane; i++, p += 4)
        {
            d[i] = rgba[p] * inv255;
            d[plane + i] = rgba[p + 1] * inv255;
            d[2 * plane + i] = rgba[p + 2] * inv255;
        }
        return image;
    }
}
