using ParNet.Tests.Data;
using ParNet.Tests.Export;
using SkiaSharp;

namespace ParNet.Tests.Cli;

/// <summary>
/// `parnet predict --image-size N` with an N no image of which fits in memory is one line and exit 2: it overflowed an
/// array's length in the resize with a stack trace (N = 40000, 100000), or was killed by the kernel (N = 20000 here).
/// </summary>
public class PredictHugeImageSizeTests
{
    [Theory]
    [InlineData("65536", "image size 65536: an image of 65536x65536 takes at least")]   // the largest valid side: terabytes
    [InlineData("100000", "image size 100000: parnet_cifar_small: image height and width must be at most 65536")]
    public void A_side_whose_image_cannot_fit_is_refused_before_preprocessing(string side, string message)
    {
        using var dir = new TempDirectory();
        string weights = ExportTestSupport.FolderRunWeights(dir.File("w.safetensors"), "a", "b"), image = dir.File("a.png");
        File.WriteAllBytes(image, TempDirectory.EncodeImage(40, 40, (x, y) => ((byte)x, (byte)y, 7), SKEncodedImageFormat.Png));

        CliRunner.AssertUserError(CliRunner.Run("predict", "--weights", weights, "--image-size", side, image), message);
    }
}
