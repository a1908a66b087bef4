using ParNet.Benchmarking;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Models.Tracing;
using ParNet.Runtime;
using ParNet.Training;
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

    // at 65536 px one image of the smallest network needs terabytes for backward (the trace is shapes only)
    const int NoMachineFits = 65536;
    static readonly ModelConfig Small = ModelRegistry.Get("parnet_cifar_small") with { Planes = [4, 8, 16], FinalWidth = 16 };

    [Fact]
    public void A_frozen_parameter_skips_the_check_which_would_otherwise_refuse()
    {
        using var model = ModelFactory.Create(Small);
        var e = Assert.Throws<ArgumentException>(() => TrainingPreparation.RequireStepFits(model, NoMachineFits, NoMachineFits, 1, false, 1));
        Assert.EndsWith("not one image can fit", e.Message);
        model.parameters().First().requires_grad = false;   // autograd keeps nothing for frozen layers: no lower bound then
        TrainingPreparation.RequireStepFits(model, NoMachineFits, NoMachineFits, 1, false, 1);
    }

    [Fact]
    public void A_resume_that_trains_nothing_skips_the_check()
    {
        using var model = ModelFactory.Create(Small);
        var data = new SyntheticSource([], [0], (3, NoMachineFits, NoMachineFits), batchSize: 1, classes: 10);   // shapes only: never read
        Assert.Throws<InvalidSettingException>(() => Trainer.RequireStepFits(model, data, false, 1, trainsNothing: false));
        Trainer.RequireStepFits(model, data, false, 1, trainsNothing: true);
    }

    [Fact]
    public void Train_bench_refuses_a_batch_that_cannot_fit_and_takes_the_models_own_side()
    {
        foreach (var forwardOnly in new[] { false, true })
        {
            var refused = CliRunner.Run(["train-bench", "--width", "4", "--image-size", $"{NoMachineFits}", "--steps", "1", .. forwardOnly ? new[] { "--forward-only" } : []]);
            CliRunner.AssertUserError(refused, "parnet train-bench: --batch-size 128: a batch of 128 images takes at least ");
            Assert.EndsWith(forwardOnly ? "the conv outputs that exist at once, at most), more than the " : "which backward needs), more than the ",
                            refused.Err[..refused.Err.IndexOf(MachineMemory.GiB(MachineMemory.AvailableBytes) + " of memory here", StringComparison.Ordinal)]);
            Assert.Contains("not one image can fit", refused.Err);
        }
        Assert.Equal(224, new TrainingBenchmarkOptions { Model = ModelRegistry.Get("parnet_s") }.ImageSize);   // an ImageNet layout
        Assert.Equal(32, new TrainingBenchmarkOptions { Model = Small }.ImageSize);                             // a CIFAR one
        Assert.Equal(48, new TrainingBenchmarkOptions { Model = Small, ImageSize = 48 }.ImageSize);
    }
}
