using ParNet.Runtime;
using SkiaSharp;

namespace ParNet.Data;

/// <summary>
/// An ImageNet-style folder: one subfolder per class, label ids in code-point order of the folder names, the images
/// anywhere below a class folder (its own subfolders too, as torchvision's ImageFolder walks them, in its order), JPEG, PNG, WebP
/// and BMP files decoded with SkiaSharp into RGB. Large images are decoded at a reduced scale
/// (JPEG decodes in 1/8 steps) when the caller says how small they may get.
/// </summary>
public sealed class ImageFolderDataset : IImageDataset
{
    /// <summary>Extensions of torchvision's ImageFolder that SkiaSharp decodes; other files in class folders are ignored, as
    /// torchvision ignores them (.gif among them: reading GIFs, as this did before 2026-12-06, trained on files torchvision
    /// leaves out, so the same folder held other images and other --subset picks; data audit, session 40).</summary>
    static readonly HashSet<string> ImageExtensions = new(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".webp", ".bmp" };

    /// <summary>The rest of torchvision's list: TIFF and the PPM/PGM family, which SkiaSharp does not read. Such a file is
    /// refused rather than left out: torchvision would train on it.</summary>
    static readonly HashSet<string> UnreadableImageExtensions = new(StringComparer.OrdinalIgnoreCase) { ".tif", ".tiff", ".ppm", ".pgm" };

    /// <summary>
    /// The order of Python's sorted(), by Unicode code point, in which torchvision's ImageFolder numbers the classes. .NET's
    /// ordinal order compares UTF-16 units, and puts a name with a character beyond U+FFFF (an emoji: a surrogate pair,
    /// from U+D800) before one with a character from U+E000 to U+FFFF (fullwidth forms, private use): labels then differed
    /// from a PyTorch model's for the same folder, and its scores here were silently wrong.
    /// </summary>
    static readonly IComparer<string> CodePointOrder = Comparer<string>.Create(CompareCodePoints);

    static int CompareCodePoints(string? a, string? b)
    {
        if (a is null || b is null) return a is null ? (b is null ? 0 : -1) : 1;
        var (x, y) = (a.EnumerateRunes(), b.EnumerateRunes());
        while (true)
        {
            bool moreX = x.MoveNext(), moreY = y.MoveNext();
            if (!moreX || !moreY) return moreX == moreY ? 0 : moreX ? 1 : -1;
            int c = x.Current.Value.CompareTo(y.Current.Value);
            if (c != 0) return c;
        }
    }

    readonly string[] _files;
    readonly int[] _labels;

    public ImageFolderDataset(string root)
    {
        var classDirs = ClassFolders(root).ToArray();
        var files = new List<string>();
        var labels = new List<int>();
        for (int label = 0; label < classDirs.Length; label++)
        {
            // one walk of the class folder: its images, and its subfolders only to refuse a name that is not UTF-8 (.NET
            // cannot open such a folder to go down, so its images would be left out silently)
            var entries = ClassFolderEntries(classDirs[label]).ToList();
            if (entries.FirstOrDefault(e => (e.IsFolder || IsImage(e.Path)) && NotUtf8(e.Path)) is { Path: { } garbled })
                throw NotUtf8Name(garbled);
            if (entries.Where(e => !e.IsFolder && UnreadableImageExtensions.Contains(Path.GetExtension(e.Path))).Select(e => e.Path)
                                                  .Order(CodePointOrder).ToList() is [var first, ..] unreadable)
                throw new InvalidDataException($"{first}{(unreadable.Count > 1 ? $" and {unreadable.Count - 1} more {string.Join('/', UnreadableImageExtensions)} files" : "")}: " +
                                               "an image torchvision's ImageFolder reads and this reader cannot (TIFF, PPM and PGM are not decoded here); " +
                                               "convert them to PNG, or move them out of the class folders");
            var imageEntries = entries.Where(e => !e.IsFolder && IsImage(e.Path)).ToList();
            var images = imageEntries.Select(e => e.Path)
                // torchvision's order, sorted(os.walk(class folder)) and each folder's sorted names: a folder's own files
                // before its subfolders' (what --subset picks and the unshuffled order depend on)
                .OrderBy(f => Path.GetDirectoryName(f)!, CodePointOrder).ThenBy(f => Path.GetFileName(f), CodePointOrder).ToList();
            if (images.Count == 0) throw new InvalidDataException($"{classDirs[label]}: empty class folder (no {string.Join('/', ImageExtensions)} files in it or below it)");
            RequireContent(imageEntries);
            files.AddRange(images);
            labels.AddRange(Enumerable.Repeat(label, images.Count));
        }
        _files = files.ToArray();
        _labels = labels.ToArray();
        ClassNames = classDirs.Select(d => Path.GetFileName(d)!).ToArray();
    }

    /// <summary>The class folders of <paramref name="root"/>, in label order (code points of their names), without listing
    /// the images in them: what the class count needs (a model built for a data set's classes), and no more.</summary>
    public static IReadOnlyList<string> ClassFolders(string root)
    {
        if (!Directory.Exists(root))
        {
            // DIR/train given where DIR was meant: "DIR/train/train: image folder not found" (a data audit of session 47)
            string? given = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(root));
            bool split = given is not null && Path.GetFileName(given) is "train" or "val" && Directory.Exists(given);
            throw new DirectoryNotFoundException($"{root}: image folder not found" +
                                                 (split ? $" ({given} is a split's folder itself: give the folder that holds train/ and val/)" : ""));
        }
        var classDirs = Directory.GetDirectories(root).OrderBy(d => Path.GetFileName(d), CodePointOrder).ToArray();
        if (classDirs.Length == 0) throw new InvalidDataException($"{root}: no class subfolders");
        if (classDirs.FirstOrDefault(NotUtf8) is { } garbledClass) throw NotUtf8Name(garbledClass);
        return classDirs;
    }

    static bool IsImage(string path) => ImageExtensions.Contains(Path.GetExtension(path));

    /// <summary>
    /// Refuses images of no bytes while listing, naming them: an empty file stopped training at the batch that met it, and a
    /// FIFO or device named .png (whose size is 0 too: .NET tells no file type apart) blocked its worker in open() for ever,
    /// so that the run could neither save nor stop (a data audit of session 47). A link's target is asked for its size (the
    /// walk's size is the link's own); a link to nothing is left to the reader, which names it.
    /// </summary>
    static void RequireContent(IEnumerable<(string Path, bool IsFolder, long Length, bool IsLink)> images)
    {
        var empty = images.Where(e => (e.IsLink ? TargetLength(e.Path) : e.Length) == 0).Select(e => e.Path).Order(CodePointOrder).ToList();
        if (empty.Count > 0)
            throw new InvalidDataException($"{empty[0]}{(empty.Count > 1 ? $" and {empty.Count - 1} more" : "")}: no bytes to read (an empty file, or a " +
                                           "pipe or device): not an image; remove it from the class folder or replace it");
    }

    /// <summary>The size of the file a link leads to, through links (FileInfo's own Length is the link's); 1 where it leads
    /// nowhere or round (the reader names such a link).</summary>
    static long TargetLength(string link)
    {
        try { return new FileInfo(link).ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true } target ? target.Length : 1; }
        catch (IOException) { return 1; }
    }

    /// <summary>Every file and folder below <paramref name="folder"/>, paths joined to it as given, as
    /// Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories) lists them: hidden names included (os.walk lists
    /// them too) and an unreadable folder an error rather than left out.</summary>
    static System.IO.Enumeration.FileSystemEnumerable<(string Path, bool IsFolder, long Length, bool IsLink)> ClassFolderEntries(string folder)
    {
        // the real paths of the class folder and of every folder a link led this walk into (Linux: realpath(3))
        var entered = new HashSet<string>(StringComparer.Ordinal);
        if (Runtime.RealPath.Of(folder) is { } start) entered.Add(start);
        return new(folder, (ref System.IO.Enumeration.FileSystemEntry e) =>
                (e.ToSpecifiedFullPath(), e.IsDirectory, e.Length, (e.Attributes & FileAttributes.ReparsePoint) != 0),
            new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false })
        {
            ShouldRecursePredicate = (ref System.IO.Enumeration.FileSystemEntry e) => !LeadsRound(ref e, entered),
        };
    }

    /// <summary>
    /// Whether a folder of the walk is a link to a folder at or above itself, or to one the walk has been led into already
    /// (two links can make a loop: a/x -> ../b beside b/y -> ../a). The walk follows links to folders, as torchvision's
    /// os.walk(followlinks=True) does (data sets are often assembled from links), and went round such a loop to the
    /// kernel's 40 levels of links: a class folder holding `loop -> ..` trained on its own images and every other class's,
    /// dozens of times over, all under its label, with nothing said (sizes audit, session 38). Refused, naming the link.
    /// </summary>
    static bool LeadsRound(ref System.IO.Enumeration.FileSystemEntry entry, HashSet<string> entered)
    {
        if ((entry.Attributes & FileAttributes.ReparsePoint) == 0) return false;
        string link = entry.ToSpecifiedFullPath();
        if (Runtime.RealPath.Of(link) is not { } target) return false;
        bool above = Runtime.RealPath.Of(entry.Directory.ToString()) is { } here && (here + "/").StartsWith(target.TrimEnd('/') + "/", StringComparison.Ordinal);
        if (!above && entered.Add(target)) return false;
        throw new InvalidDataException($"{link}: a link to {target}, a folder at or above it or one this class's walk has been in: " +
                                       "the walk would list the same images again under this class; remove the link or point it elsewhere");
    }

    /// <summary>
    /// A name whose bytes are not UTF-8: .NET lists it with U+FFFD in their place and cannot open what it lists (the name
    /// no longer encodes to the file's bytes), so such an image stopped training mid-epoch as "not found" (environment
    /// audit, session 37); a name that really holds U+FFFD exists as listed.
    /// </summary>
    static bool NotUtf8(string path) => path.Contains('\uFFFD') && !File.Exists(path) && !Directory.Exists(path);

    static InvalidDataException NotUtf8Name(string path) =>
        new($"{path}: a name whose bytes are not UTF-8 (shown as \uFFFD), which .NET cannot open; rename it (e.g. convmv -f latin1 -t utf8)");

    public int Count => _files.Length;
    public int Channels => 3;
    public (int Height, int Width)? FixedSize => null;
    public IReadOnlyList<string> ClassNames { get; }
    public int LabelOf(int index) => _labels[index];
    public string PathOf(int index) => _files[index];

    public ImageF Load(int index, int minShortSide = 0) => Decode(_files[index], minShortSide);

    /// <summary>Its file's path (<see cref="PathOf"/>), naming the image in an error about it.</summary>
    public string NameOf(int index) => PathOf(index);

    /// <summary>
    /// Most pixels a decode may produce: 64 megapixels, above any camera photo a classifier is fed (48 MP is the
    /// largest common sensor) and 256 MiB as RGBA plus 768 MiB as float RGB. A file declaring more is refused before
    /// anything is allocated: a 200-byte PNG can declare 60000 x 60000 pixels (a decompression bomb).
    /// </summary>
    public const long DefaultMaxPixels = 64L * 1024 * 1024;

    /// <summary>The most pixels one decode can hold whatever limit is given: 4 bytes a pixel in one .NET array (at most
    /// Array.MaxLength bytes), whose size SkiaSharp counts in an int (a 50000 x 50000 header under a raised limit wrapped
    /// that count and the codec wrote past the buffer).</summary>
    public const long MostDecodablePixels = 0x7FFFFFC7 / 4;

    /// <summary>
    /// Decodes a file to RGB [0, 1], or with <paramref name="grey"/> to its luma (<see cref="PixelOps.Luma(float, float, float)"/>). With
    /// <paramref name="minShortSide"/> &gt; 0 the codec may scale down, keeping the short side at least that long. Any
    /// failure is an InvalidDataException naming the file.
    /// </summary>
    public static ImageF Decode(string path, int minShortSide = 0, long maxPixels = DefaultMaxPixels, bool grey = false)
    {
        byte[] bytes;
        try { bytes = BoundedFile.ReadAllBytes(path, MaxFileBytes, "image this reads"); }
        // .NET opens a folder as "Access to the path is denied", which blamed permissions (asked only on failure: no stat per image)
        catch (UnauthorizedAccessException e) when (Directory.Exists(path)) { throw new InvalidDataException($"{path}: a folder, not an image", e); }
        catch (FileNotFoundException e) { throw new InvalidDataException($"{path}: not found", e); }
        catch (DirectoryNotFoundException e) { throw new InvalidDataException($"{path}: not found (no folder {Path.GetDirectoryName(path)})", e); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new InvalidDataException($"{path}: unreadable ({e.Message})", e); }
        return Decode(bytes, path, minShortSide, maxPixels, grey);
    }

    /// <summary>
    /// Largest image file read: 512 MiB, a <see cref="DefaultMaxPixels"/> image of 16-bit RGBA stored uncompressed. A file
    /// without a size (a device such as /dev/zero) was read until the process ran out of memory and aborted.
    /// </summary>
    public const long MaxFileBytes = 512L * 1024 * 1024;

    /// <summary>
    /// Decodes encoded image bytes (JPEG, PNG, WebP, or any format SkiaSharp reads) to RGB [0, 1], or with
    /// <paramref name="grey"/> to its luma; <paramref name="name"/> names the source in errors. The declared size is checked
    /// against <paramref name="maxPixels"/> before anything is allocated.
    /// </summary>
    public static ImageF Decode(byte[] bytes, string name, int minShortSide = 0, long maxPixels = DefaultMaxPixels, bool grey = false)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data)
            ?? throw new InvalidDataException($"{name}: not a decodable image (unknown format or corrupt header)");
        var full = codec.Info;
        if (full.Width <= 0 || full.Height <= 0)
            throw new InvalidDataException($"{name}: image has no pixels ({full.Width}x{full.Height})");
        // The declared size, not the scaled one: a codec's work and buffers follow the file's size, and a JPEG that
        // declares 60000 x 60000 would still be 7500 x 7500 at its smallest scale.
        if ((long)full.Width * full.Height > maxPixels)
            throw new InvalidDataException($"{name}: declares {full.Width}x{full.Height} pixels, more than the limit of " +
                $"{maxPixels:N0} (a decompression bomb, or an image far larger than a classifier needs)");
        if ((long)full.Width * full.Height > MostDecodablePixels)
            throw new InvalidDataException($"{name}: declares {full.Width}x{full.Height} pixels, more than one decode can hold " +
                $"({MostDecodablePixels:N0})");
        var size = DecodeSize(codec, minShortSide);
        var info = new SKImageInfo(size.Width, size.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[info.BytesSize];
        SKCodecResult result;
        unsafe
        {
            fixed (byte* p = rgba) result = codec.GetPixels(info, (IntPtr)p);
        }
        // a file cut short ends as IncompleteInput (PNG) or InvalidInput (JPEG: its entropy-coded data ends mid-stream)
        if (result != SKCodecResult.Success)
            throw new InvalidDataException(result is SKCodecResult.IncompleteInput or SKCodecResult.InvalidInput
                ? $"{name}: truncated or corrupt image data (the codec decoded only part of it)"
                : $"{name}: decoding failed ({result})");
        return grey ? LumaFromRgba(rgba, size.Height, size.Width) : FromRgba(rgba, size.Height, size.Width);
    }

    /// <summary>
    /// Width x height as the encoded image's header declares them, read without decoding any pixel (a server refuses a
    /// decompression bomb with its own status before <see cref="Decode(byte[], string, int, long, bool)"/>); null when no codec
    /// recognizes the bytes.
    /// </summary>
    public static long? DeclaredPixels(byte[] bytes)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data);
        return codec is null ? null : (long)codec.Info.Width * codec.Info.Height;
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

    /// <summary>
    /// The luma of RGBA bytes, straight: the same floats as the luma of <see cref="FromRgba"/>'s channels, without
    /// their 12 bytes a pixel (a 16-megapixel upload to a grey model held RGBA, float RGB and float grey at once: about
    /// 320 MB a decode in serve; memory audit, session 37).
    /// </summary>
    static ImageF LumaFromRgba(byte[] rgba, int height, int width)
    {
        var image = new ImageF(1, height, width);
        var d = image.Data;
        const float inv255 = 1f / 255f;
        for (int i = 0, p = 0; i < d.Length; i++, p += 4)
            d[i] = PixelOps.Luma(rgba[p] * inv255, rgba[p + 1] * inv255, rgba[p + 2] * inv255);
        return image;
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
