using ParNet.Data;
using SkiaSharp;

namespace ParNet.Tests.Data;

public class ImageFolderTests
{
    static (byte, byte, byte) Pattern(int x, int y) => ((byte)(x * 10), (byte)(y * 20), 77);

    static TempDirectory ThreeClassFolder()
    {
        var dir = new TempDirectory();
        foreach (var (cls, format, ext) in new[] { ("zebra", SKEncodedImageFormat.Png, "png"), ("ant", SKEncodedImageFormat.Jpeg, "JPG"), ("moth", SKEncodedImageFormat.Webp, "webp") })
        {
            Directory.CreateDirectory(dir.File(cls));
            for (int i = 0; i < 2; i++)
                System.IO.File.WriteAllBytes(Path.Combine(dir.File(cls), $"img{i}.{ext}"), TempDirectory.EncodeImage(12, 8, Pattern, format));
            System.IO.File.WriteAllText(Path.Combine(dir.File(cls), "notes.txt"), "not an image");
        }
        return dir;
    }

    [Fact]
    public void Labels_follow_sorted_folder_names_and_PNG_pixels_are_exact()
    {
        using var dir = ThreeClassFolder();
        var dataset = new ImageFolderDataset(dir.Path);
        Assert.Equal(["ant", "moth", "zebra"], dataset.ClassNames);
        Assert.Equal(6, dataset.Count);
        Assert.Equal([0, 0, 1, 1, 2, 2], Enumerable.Range(0, 6).Select(dataset.LabelOf));
        var png = dataset.Load(4);
        Assert.Equal((3, 8, 12), (png.Channels, png.Height, png.Width));
        Assert.Equal(50 / 255f, png[0, 3, 5], 5);
        Assert.Equal(60 / 255f, png[1, 3, 5], 5);
        Assert.Equal(77 / 255f, png[2, 3, 5], 5);
        var jpeg = dataset.Load(0); // lossy: close, not exact
        Assert.InRange(jpeg[0, 3, 5] * 255, 50 - 12, 50 + 12);
        var webp = dataset.Load(2);
        Assert.InRange(webp[1, 3, 5] * 255, 60 - 12, 60 + 12);
    }

    [Fact]
    public void Large_JPEG_is_decoded_at_reduced_scale_but_never_below_the_requested_side()
    {
        using var dir = new TempDirectory();
        var path = dir.File("big.jpg");
        System.IO.File.WriteAllBytes(path, TempDirectory.EncodeImage(800, 640, (x, y) => ((byte)x, (byte)y, 0), SKEncodedImageFormat.Jpeg, 80));
        var full = ImageFolderDataset.Decode(path);
        var reduced = ImageFolderDataset.Decode(path, minShortSide: 150);
        Assert.Equal((640, 800), (full.Height, full.Width));
        Assert.True(reduced.Height >= 150 && reduced.Height < 640, $"decoded {reduced.Width}x{reduced.Height}");
        Assert.Equal(800.0 / 640, (double)reduced.Width / reduced.Height, 1);
    }

    /// <summary>`parnet predict /dev/zero` read until the process ran out of memory (4.3 GB here) and aborted (exit 134).</summary>
    [Fact]
    public void A_file_without_end_is_refused_after_the_largest_image_size_not_read_until_memory_runs_out()
    {
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Decode("/dev/zero"));
        Assert.Contains("/dev/zero: more than 536,870,912 bytes", e.Message);
    }

    /// <summary>A folder given as an image was "Access to the path is denied" (UnauthorizedAccessException, as root too): the
    /// library's callers (DeploymentPreprocessing.Load) got neither the documented exception nor a true message.</summary>
    [Fact]
    public void A_folder_given_as_an_image_is_invalid_data_that_says_it_is_a_folder()
    {
        using var dir = new TempDirectory();
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Decode(dir.Path));
        Assert.Equal($"{dir.Path}: a folder, not an image", e.Message);
    }

    [Fact]
    public void Corrupt_and_truncated_images_are_invalid_data_naming_the_file()
    {
        using var dir = new TempDirectory();
        var garbage = dir.File("garbage.jpg");
        System.IO.File.WriteAllBytes(garbage, Enumerable.Range(0, 500).Select(i => (byte)(i * 37)).ToArray());
        var e1 = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Decode(garbage));
        Assert.Equal($"{garbage}: not a decodable image (unknown format or corrupt header)", e1.Message);

        var truncated = dir.File("truncated.png");
        var png = TempDirectory.EncodeImage(64, 64, (x, y) => ((byte)(x * 3 + y), (byte)(y * x), (byte)x), SKEncodedImageFormat.Png);
        System.IO.File.WriteAllBytes(truncated, png[..(png.Length / 2)]);
        var e2 = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Decode(truncated));
        Assert.Equal($"{truncated}: truncated or corrupt image data (the codec decoded only part of it)", e2.Message);

        var empty = dir.File("empty.webp");
        System.IO.File.WriteAllBytes(empty, []);
        var e3 = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Decode(empty));
        Assert.Equal($"{empty}: not a decodable image (unknown format or corrupt header)", e3.Message);
    }

    /// <summary>A 24-bit BMP written byte by byte (Skia encodes no BMP): rows bottom-up, BGR, each padded to 4 bytes.</summary>
    static byte[] Bmp(int width, int height, Func<int, int, (byte R, byte G, byte B)> pixel)
    {
        int row = (3 * width + 3) / 4 * 4, size = 54 + row * height;
        var bytes = new byte[size];
        void Int(int at, int value) => BitConverter.GetBytes(value).CopyTo(bytes, at);
        bytes[0] = (byte)'B'; bytes[1] = (byte)'M';
        Int(2, size); Int(10, 54); Int(14, 40); Int(18, width); Int(22, height);
        bytes[26] = 1; bytes[28] = 24; Int(34, row * height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                var (r, g, b) = pixel(x, y);
                int at = 54 + (height - 1 - y) * row + 3 * x;
                (bytes[at], bytes[at + 1], bytes[at + 2]) = (b, g, r);
            }
        return bytes;
    }

    /// <summary>A 1x1 GIF whose one pixel is colour 0 of its table, (200, 100, 50): header, screen descriptor, a two-colour
    /// table, an image descriptor and the LZW data of one index 0 (clear code, 0, end code).</summary>
    static readonly byte[] OnePixelGif =
    [
        .. "GIF89a"u8, 1, 0, 1, 0, 0x80, 0, 0, 200, 100, 50, 0, 0, 0,
        (byte)',', 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, (byte)';',
    ];

    [Fact]
    public void Images_in_subfolders_of_a_class_and_BMP_files_are_read_and_GIF_files_left_out_as_torchvision_does()
    {
        using var dir = ThreeClassFolder();
        string nested = Path.Combine(dir.File("ant"), "aaa", "deeper");   // before img0.JPG by full path, after it by folder
        Directory.CreateDirectory(nested);
        System.IO.File.WriteAllBytes(Path.Combine(nested, "a.bmp"), Bmp(5, 3, (x, y) => ((byte)(40 * x), (byte)(80 * y), 9)));
        System.IO.File.WriteAllBytes(Path.Combine(dir.File("moth"), "b.GIF"), OnePixelGif);   // not in torchvision's IMG_EXTENSIONS

        var dataset = new ImageFolderDataset(dir.Path);
        Assert.Equal(7, dataset.Count);
        Assert.Equal([0, 0, 0, 1, 1, 2, 2], Enumerable.Range(0, 7).Select(dataset.LabelOf));
        Assert.DoesNotContain(Enumerable.Range(0, 7), i => dataset.PathOf(i).EndsWith("b.GIF"));
        int bmp = Enumerable.Range(0, 7).Single(i => dataset.PathOf(i).EndsWith("a.bmp"));
        Assert.Equal(2, bmp);   // a subfolder of "ant" is not a class of its own, and its files come after the folder's own
        var image = dataset.Load(bmp);
        Assert.Equal((3, 3, 5), (image.Channels, image.Height, image.Width));
        static int Byte(float v) => (int)MathF.Round(v * 255);
        Assert.Equal((160, 160, 9), (Byte(image[0, 2, 4]), Byte(image[1, 2, 4]), Byte(image[2, 2, 4])));   // exact: BMP is lossless
    }

    /// <summary>os.walk lists names that start with a dot, so torchvision's ImageFolder reads such images; .NET's default
    /// EnumerationOptions would skip them (hidden) and a listing built on it would count fewer images than PyTorch.</summary>
    [Fact]
    public void Images_and_subfolders_whose_names_start_with_a_dot_are_read_as_torchvision_reads_them()
    {
        using var dir = ThreeClassFolder();
        int before = new ImageFolderDataset(dir.Path).Count;
        Directory.CreateDirectory(Path.Combine(dir.File("ant"), ".cache"));
        System.IO.File.WriteAllBytes(Path.Combine(dir.File("ant"), ".cache", "0.png"), TempDirectory.EncodeImage(8, 8, Pattern, SKEncodedImageFormat.Png));
        System.IO.File.WriteAllBytes(Path.Combine(dir.File("moth"), ".1.png"), TempDirectory.EncodeImage(8, 8, Pattern, SKEncodedImageFormat.Png));
        var dataset = new ImageFolderDataset(dir.Path);
        Assert.Equal(before + 2, dataset.Count);
        Assert.Contains(Enumerable.Range(0, dataset.Count), i => dataset.PathOf(i).EndsWith("/ant/.cache/0.png") && dataset.LabelOf(i) == 0);
    }

    [Fact]
    public void Classes_are_numbered_in_code_point_order_as_python_sorts_them_for_torchvision()
    {
        using var dir = new TempDirectory();
        // python3 -c "print(sorted(['\U0001F600', '\uFF5A', 'a']))" prints ['a', 'ｚ', '😀']
        foreach (var name in new[] { "\U0001F600", "\uFF5A", "a" })
        {
            Directory.CreateDirectory(dir.File(name));
            System.IO.File.WriteAllBytes(Path.Combine(dir.File(name), "0.png"), TempDirectory.EncodeImage(8, 8, Pattern, SKEncodedImageFormat.Png));
        }
        Assert.Equal(["a", "\uFF5A", "\U0001F600"], new ImageFolderDataset(dir.Path).ClassNames);
    }

    /// <summary>Names whose bytes are not UTF-8 (an archive from an older system: Latin-1 names) are listed by .NET with U+FFFD
    /// and cannot be opened by what it lists: training stopped mid-epoch 1 with "bad\uFFFD.png: not found" (environment
    /// audit, session 37). Now the listing refuses them; a name that really holds U+FFFD is an image like any other.</summary>
    [Theory]
    [InlineData("moth/bad\\xff.png")]   // bash's $'...' bytes: a file, and below a class folder
    [InlineData("caf\\xe9/0.png")]
    [InlineData("moth/sub\\xff/0.png")]   // a subfolder .NET cannot go down into: its images were left out without a word
    public void A_name_that_is_not_utf8_is_refused_when_listed_naming_it(string relative)
    {
        using var dir = ThreeClassFolder();
        System.IO.File.WriteAllBytes(Path.Combine(dir.File("moth"), "real \uFFFD.png"), TempDirectory.EncodeImage(8, 8, Pattern, SKEncodedImageFormat.Png));
        var listed = new ImageFolderDataset(dir.Path);   // U+FFFD encoded as UTF-8 is a name like any other: listed, in moth (label 1)
        Assert.Equal(7, listed.Count);
        int real = Assert.Single(Enumerable.Range(0, listed.Count), i => Path.GetFileName(listed.PathOf(i)) == "real \uFFFD.png");
        Assert.Equal(1, listed.LabelOf(real));
        var bash = System.Diagnostics.Process.Start("bash", ["-c", $"cd {ParNet.Cli.ShellWords.Quote(dir.Path)} && mkdir -p \"$(dirname $'{relative}')\" && touch $'{relative}'"])!;
        bash.WaitForExit();
        Assert.Equal(0, bash.ExitCode);
        var e = Assert.Throws<InvalidDataException>(() => new ImageFolderDataset(dir.Path));
        Assert.Contains("a name whose bytes are not UTF-8 (shown as \uFFFD), which .NET cannot open; rename it", e.Message);
        Assert.StartsWith(Path.Combine(dir.Path, relative.Split('\\')[0]), e.Message);
    }

    /// <summary>A link to a folder at or above itself (`loop -> ..`) was followed to the kernel's 40 levels: "moth" held its own
    /// two images and every other class's, 80 times over, under its label (sizes audit, session 38). A link elsewhere is
    /// followed, as os.walk(followlinks=True) does for torchvision.</summary>
    [Theory]
    [InlineData("..")]       // the data set's root
    [InlineData(".")]        // the class folder itself
    [InlineData("../moth")]  // the same, by another name
    public void A_link_back_up_the_walk_is_refused_naming_it_and_a_link_elsewhere_is_followed(string target)
    {
        using var dir = ThreeClassFolder();
        using var elsewhere = new TempDirectory();
        System.IO.File.WriteAllBytes(elsewhere.File("far.png"), TempDirectory.EncodeImage(8, 8, Pattern, SKEncodedImageFormat.Png));
        Directory.CreateSymbolicLink(Path.Combine(dir.File("moth"), "extra"), elsewhere.Path);
        var followed = new ImageFolderDataset(dir.Path);
        Assert.Equal(7, followed.Count);   // the linked folder's image counts once, under moth
        Assert.Equal(Path.Combine(dir.File("moth"), "extra", "far.png"), followed.PathOf(4));

        string loop = Path.Combine(dir.File("moth"), "sub", "loop");
        Directory.CreateDirectory(Path.GetDirectoryName(loop)!);
        Directory.CreateSymbolicLink(loop, target == "." ? ".." : Path.Combine("..", target));   // seen from moth/sub
        var e = Assert.Throws<InvalidDataException>(() => new ImageFolderDataset(dir.Path));
        Assert.StartsWith($"{loop}: a link to ", e.Message);
        Assert.EndsWith(", a folder at or above it or one this class's walk has been in: the walk would list the same images " +
                        "again under this class; remove the link or point it elsewhere", e.Message);
    }

    /// <summary>Two links make a loop neither makes alone: moth/x -> ../ant beside ant/y -> ../moth (the review of session 39).</summary>
    [Fact]
    public void A_loop_of_two_links_is_refused_naming_the_link_that_closes_it()
    {
        using var dir = ThreeClassFolder();
        Directory.CreateSymbolicLink(Path.Combine(dir.File("moth"), "x"), Path.Combine("..", "ant"));
        Assert.Equal(8, new ImageFolderDataset(dir.Path).Count);   // alone, a link to another class's folder is followed
        Directory.CreateSymbolicLink(Path.Combine(dir.File("ant"), "y"), Path.Combine("..", "moth"));
        var e = Assert.Throws<InvalidDataException>(() => new ImageFolderDataset(dir.Path));
        Assert.StartsWith(Path.Combine(dir.File("ant"), "y", "x") + ": a link to ", e.Message);   // ant's walk: y is moth, whose x is ant
    }

    /// <summary>A grey decode is the luma of the RGB decode, float for float, without the RGB floats: serve held RGBA, float
    /// RGB and float grey at once for a grey model (about 320 MB for a 16-megapixel upload; memory audit, session 37).</summary>
    [Fact]
    public void A_grey_decode_is_the_luma_of_the_rgb_decode_bit_for_bit()
    {
        var random = new Random(37);
        var colours = new (byte, byte, byte)[61 * 47];
        for (int i = 0; i < colours.Length; i++) colours[i] = ((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
        var png = TempDirectory.EncodeImage(61, 47, (x, y) => colours[y * 61 + x], SKEncodedImageFormat.Png);
        var rgb = ImageFolderDataset.Decode(png, "noise.png");
        var grey = ImageFolderDataset.Decode(png, "noise.png", grey: true);
        Assert.Equal((1, 47, 61), (grey.Channels, grey.Height, grey.Width));
        var expected = Enumerable.Range(0, rgb.PlaneSize).Select(i => PixelOps.Luma(rgb, i)).ToArray();
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), grey.Data.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(0.299f * colours[0].Item1 / 255f + 0.587f * colours[0].Item2 / 255f + 0.114f * colours[0].Item3 / 255f, grey.Data[0], 6);
    }

    [Fact]
    public void Empty_class_folder_is_rejected()
    {
        using var dir = ThreeClassFolder();
        Directory.CreateDirectory(dir.File("wasp"));
        System.IO.File.WriteAllText(Path.Combine(dir.File("wasp"), "notes.txt"), "not an image");
        System.IO.File.WriteAllBytes(Path.Combine(dir.File("wasp"), "a.gif"), "GIF89a"u8.ToArray());   // torchvision's ImageFolder leaves GIFs out too
        var e = Assert.Throws<InvalidDataException>(() => new ImageFolderDataset(dir.Path));
        Assert.Equal($"{dir.File("wasp")}: empty class folder (no .jpg/.jpeg/.png/.webp/.bmp files in it or below it)", e.Message);
    }

    /// <summary>An empty file stopped training at the batch that met it; a FIFO named .png (size 0 too: .NET tells no file type
    /// apart) blocked its worker in open(2) for ever, and the run could neither save nor stop (a data audit of session 47).
    /// Both are refused while the folder is listed, a link by its target's size.</summary>
    [Fact]
    public void Images_of_no_bytes_and_pipes_are_refused_while_listing_naming_them()
    {
        using var dir = ThreeClassFolder();
        string empty = Path.Combine(dir.File("zebra"), "empty.jpg"), fifo = Path.Combine(dir.File("moth"), "pipe.png"), link = Path.Combine(dir.File("ant"), "to-pipe.png");
        System.IO.File.WriteAllBytes(empty, []);
        var e = Assert.Throws<InvalidDataException>(() => new ImageFolderDataset(dir.Path));
        Assert.Equal($"{empty}: no bytes to read (an empty file, or a pipe or device): not an image; remove it from the class folder or replace it", e.Message);
        System.IO.File.Delete(empty);
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [fifo])!) mkfifo.WaitForExit();
        Assert.True(System.IO.File.Exists(fifo));
        var pipe = Assert.Throws<InvalidDataException>(() => new ImageFolderDataset(dir.Path));
        Assert.StartsWith($"{fifo}: no bytes to read", pipe.Message);
        System.IO.File.Move(fifo, Path.Combine(dir.Path, "pipe.png"));   // out of the class folders: the link alone leads to it
        System.IO.File.CreateSymbolicLink(link, Path.Combine(dir.Path, "pipe.png"));
        var linked = Assert.Throws<InvalidDataException>(() => new ImageFolderDataset(dir.Path));
        Assert.StartsWith($"{link}: no bytes to read", linked.Message);
    }

    [Fact]
    public void A_splits_folder_given_for_the_data_sets_is_said_to_be_one()
    {
        using var dir = ThreeClassFolder();
        string train = dir.File("train");
        Directory.CreateDirectory(Path.Combine(train, "zebra"));
        var e = Assert.Throws<DirectoryNotFoundException>(() => ImageFolderDataset.ClassFolders(Path.Combine(train, "train")));
        Assert.Equal($"{Path.Combine(train, "train")}: image folder not found ({train} is a split's folder itself: give the folder that holds train/ and val/)", e.Message);
        Assert.Equal($"{dir.File("elsewhere")}: image folder not found", Assert.Throws<DirectoryNotFoundException>(() => ImageFolderDataset.ClassFolders(dir.File("elsewhere"))).Message);
    }

    [Fact]
    public void A_tiff_torchvision_would_train_on_is_refused_not_left_out()
    {
        using var dir = ThreeClassFolder();
        string tiff = Path.Combine(dir.File("ant"), "scan.TIF");
        System.IO.File.WriteAllBytes(tiff, [0x49, 0x49, 0x2A, 0x00]);
        System.IO.File.WriteAllBytes(Path.Combine(dir.File("ant"), "z.pgm"), "P5"u8.ToArray());
        var e = Assert.Throws<InvalidDataException>(() => new ImageFolderDataset(dir.Path));
        Assert.Equal($"{tiff} and 1 more .tif/.tiff/.ppm/.pgm files: an image torchvision's ImageFolder reads and this reader cannot (TIFF, PPM " +
                     "and PGM are not decoded here); convert them to PNG, or move them out of the class folders", e.Message);
    }

    [Fact]
    public void Unreadable_image_fails_the_epoch_unless_skipping_is_on()
    {
        using var dir = ThreeClassFolder();
        var bad = Path.Combine(dir.File("moth"), "img1.webp");
        System.IO.File.WriteAllBytes(bad, [1, 2, 3, 4]);
        var transform = new CenterCrop(8);
        var strict = new DataLoader(new ImageFolderDataset(dir.Path), transform, new LoaderOptions { BatchSize = 4, Workers = 2 });
        var e = Assert.Throws<InvalidDataException>(() => { foreach (var b in strict.Epoch(0)) b.Dispose(); });
        Assert.Contains("img1.webp", e.Message);

        var lenient = new DataLoader(new ImageFolderDataset(dir.Path), transform, new LoaderOptions { BatchSize = 4, Workers = 2, SkipUnreadableImages = true });
        int images = 0;
        foreach (var b in lenient.Epoch(0)) { images += b.Count; Assert.Equal(b.Count, (int)b.Images.shape[0]); b.Dispose(); }
        Assert.Equal(5, images);
        Assert.Equal(1, lenient.SkippedImages);
    }

    [Fact]
    public void Images_declaring_more_pixels_than_the_limit_are_refused_before_anything_is_allocated()
    {
        using var dir = new TempDirectory();
        foreach (var (ext, bytes, declared) in DecompressionBombs.All())
        {
            var path = dir.File($"bomb.{ext}");
            System.IO.File.WriteAllBytes(path, bytes);
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Decode(path, minShortSide: 224));
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Contains(path, e.Message);
            Assert.Contains($"declares {declared} pixels", e.Message);
            Assert.True(allocated < 1 << 20, $"{ext}: {allocated:N0} bytes allocated before refusing");
        }
    }

    [Fact]
    public void The_pixel_limit_is_inclusive_and_adjustable()
    {
        var png = TempDirectory.EncodeImage(40, 25, Pattern, SKEncodedImageFormat.Png);
        var exact = ImageFolderDataset.Decode(png, "exact", maxPixels: 1000);
        Assert.Equal((25, 40), (exact.Height, exact.Width));
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Decode(png, "one-over", maxPixels: 999));
        Assert.Contains("one-over: declares 40x25 pixels, more than the limit of 999", e.Message);
    }

    /// <summary>Above any limit given, a header declaring more than one decode can hold is refused before the codec runs:
    /// under a raised limit, 30000 x 30000 overflowed SkiaSharp's int byte count (a 500) and 50000 x 50000 wrapped it to a
    /// buffer the codec wrote past (serve died of a segfault: walk of session 34).</summary>
    [Theory]
    [InlineData(30000, 30000)]
    [InlineData(50000, 50000)]
    [InlineData(23171, 23171)]   // 536,895,241 pixels: just over
    public void A_header_beyond_what_one_decode_can_hold_is_refused_whatever_the_limit(int width, int height)
    {
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Decode(DecompressionBombs.Png(width, height), "huge", maxPixels: long.MaxValue));
        Assert.Equal($"huge: declares {width}x{height} pixels, more than one decode can hold (536,870,897)", e.Message);
        Assert.Equal(ImageFolderDataset.MostDecodablePixels, Array.MaxLength / 4);
    }
}
