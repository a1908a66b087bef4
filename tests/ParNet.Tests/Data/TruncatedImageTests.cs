using ParNet.Data;
using SkiaSharp;

namespace ParNet.Tests.Data;

public class TruncatedImageTests
{
    /// <summary>A JPEG cut short decoded as "decoding failed (InvalidInput)", SkiaSharp's enum name, where a PNG cut short
    /// said "truncated" (noticed in session 27's walk, left until now).</summary>
    [Theory, InlineData(SKEncodedImageFormat.Jpeg), InlineData(SKEncodedImageFormat.Png)]
    public void An_image_cut_short_is_called_truncated_or_corrupt_not_an_enum_name(SKEncodedImageFormat format)
    {
        var bytes = TempDirectory.EncodeImage(64, 48, (x, y) => ((byte)(x * 4), (byte)(y * 5), (byte)(x ^ y)), format);
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Decode(bytes[..(bytes.Length * 6 / 10)], "cut.img"));
        Assert.StartsWith("cut.img: truncated or corrupt image data (the codec decoded only part of it", e.Message);
        Assert.DoesNotContain("InvalidInput", e.Message);
    }
}
