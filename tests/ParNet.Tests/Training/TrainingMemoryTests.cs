using ParNet.Inference;
using ParNet.Models;
using ParNet.Models.Tracing;
using ParNet.Runtime;
using ParNet.Tests.Cli;
using ParNet.Tests.Data;
using SkiaSharp;
using static TorchSharp.torch;

namespace ParNet.Tests.Training;

/// <summary>
/// A training batch whose step surely cannot fit in this machine's memory is refused before its first step, the run folder
/// unwritten, with the numbers: what backward keeps of the forward pass (each conv's and BatchNorm's input) is a lower bound. Without it
/// the kernel killed the first step with nothing said (sizes audit, session 38: an evaluation died that way 24 GB in).
/// </summary>
public class TrainingMemoryTests
{
    [Fact]
    public void What_backward_keeps_counts_each_conv_and_batch_norm_input_once()
    {
        using var conv3 = nn.Conv2d(2, 2, 3, padding: 1);
        using var conv1 = nn.Conv2d(2, 2, 1);
        using var bn = nn.BatchNorm2d(2);
        var g = new LayerGraph();
        var x = g.Input(2, 4, 4);   // 128 bytes an image, as every node below
        var sum = g.Sum(g.Conv(conv3, "a", x), g.Conv(conv1, "b", x));   // x read by both convs: kept once
        g.Activation(ActivationKind.ReLU, g.BatchNorm(bn, "bn", sum));    // the sum, the BatchNorm's input: kept
        Assert.Equal(256, ForwardMemory.SavedForBackward(g).BytesPerImage);   // x and the sum; the convs' outputs feed only the sum
    }

    [Fact]
    public void A_batch_whose_step_cannot_fit_is_refused_before_the_run_folder_is_written()
    {
        using var dir = new TempDirectory();
        foreach (var split in new[] { "train", "val" })
            foreach (var cls in new[] { "a", "b" })
            {
                Directory.CreateDirectory(Path.Combine(dir.Path, "data", split, cls));
                for (int i = 0; i < 2; i++)
                    File.WriteAllBytes(Path.Combine(dir.Path, "data", split, cls, $"{i}.png"),
                                       TempDirectory.EncodeImage(16, 16, (px, py) => ((byte)(px * 9), (byte)(py * 9), 0), SKEncodedImageFormat.Png));
            }
        string run = dir.File("run");
        // at 65536 px the width-16 network keeps 3.75 TB an image for backward: one image passes any machine's memory (the
        // trace is shapes only: nothing of that size is made)
        var refused = CliRunner.Run("train", "--dataset", "folder", "--data", dir.File("data"), "--image-size", "65536", "--width", "16",
                                    "--epochs", "1", "--out", run);
        CliRunner.AssertUserError(refused, "parnet train: --batch-size 128: a batch of 4 images takes at least ");
        Assert.Contains("bytes an image of 3x65536x65536 for parnet_cifar_small_w16: each conv's, linear layer's and BatchNorm's input, which backward " +
                        $"needs), more than the {MachineMemory.GiB(MachineMemory.AvailableBytes)} of memory here; not one image can fit", refused.Err);
        Assert.False(Directory.Exists(run));

        var trained = CliRunner.Run("train", "--dataset", "folder", "--data", dir.File("data"), "--image-size", "32", "--width", "4",
                                    "--epochs", "1", "--threads", "1", "--out", run);
        Assert.True(trained.Code == 0, trained.Err + trained.Out);   // the same data at a side that fits trains
    }
}
