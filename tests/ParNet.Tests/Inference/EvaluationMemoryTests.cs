using ParNet.Models.Tracing;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Tests.Cli;
using ParNet.Tests.Data;

namespace ParNet.Tests.Inference;

/// <summary>
/// The batch `parnet eval` runs at, against this machine's memory (sizes audit, session 38): its default 256 images of
/// ParNet-S at 224 px were killed by the kernel 24 GB in, nothing said. A default batch is lowered to fill at most half the
/// memory by the estimate of the tensors the pass holds at once; an asked-for batch is refused only where it surely cannot fit.
/// </summary>
public class EvaluationMemoryTests
{
    [Fact]
    public void A_default_batch_fills_at_most_half_the_memory_and_an_image_beyond_that_half_is_refused_with_the_numbers()
    {
        var memory = new ForwardMemory(MachineMemory.AvailableBytes / 100, "the tensors of the pass that exist at once", [3, 224, 224]);
        long fits = memory.ImagesThatFit;   // 100, or 101 where the division rounds
        Assert.InRange(fits, 100, 101);
        Assert.Equal(fits / 2, memory.BatchThatFits(256, viewsPerImage: 1));
        Assert.Equal(fits / 2 / 10, memory.BatchThatFits(256, viewsPerImage: 10));   // ten-crop: ten forward passes an image
        Assert.Equal(3, memory.BatchThatFits(3, viewsPerImage: 1));   // a small default stays as it is
        var huge = new ForwardMemory(MachineMemory.AvailableBytes / 2 + 1, "the tensors of the pass that exist at once", [1, 2048, 2048]);
        var e = Assert.Throws<ArgumentException>(() => huge.BatchThatFits(256, 1));
        Assert.StartsWith("an image of 1x2048x2048 takes about ", e.Message);
        Assert.EndsWith($"in the forward pass (the tensors of the pass that exist at once), more than half the {MachineMemory.GiB(MachineMemory.AvailableBytes)} of memory here (the rest is for what that misses)", e.Message);
    }

    [Fact]
    public void An_asked_for_batch_is_refused_only_where_even_the_lower_bound_passes_the_memory()
    {
        var memory = new ForwardMemory(MachineMemory.AvailableBytes / 100, "the conv outputs that exist at once", [3, 224, 224]);
        long fits = memory.ImagesThatFit;
        memory.RequireBatchFits((int)fits, viewsPerImage: 1);
        var e = Assert.Throws<ArgumentException>(() => memory.RequireBatchFits((int)fits + 1, viewsPerImage: 1));
        Assert.EndsWith($"of memory here; batches of at most {fits:N0} images can fit", e.Message);
        Assert.Throws<ArgumentException>(() => memory.RequireBatchFits((int)fits / 10 + 1, viewsPerImage: 10));
    }

    /// <summary>The tensors alive at once are more than the convs' outputs alive at once (the lower bound predict and serve
    /// refuse by), and for ParNet-S at 224 about what its pass without gradients was measured to hold: 24.0-26.8 MB an image
    /// (`bench/ParNet.Bench -- memory`, inference and evaluation forms, four runs; 127.5-128.1 MB before each block freed its maps).</summary>
    [Fact]
    public void The_tensors_alive_at_once_in_ParNet_S_at_224_are_near_what_its_pass_was_measured_to_hold()
    {
        using var model = ModelFactory.Create(ModelRegistry.Get("parnet_s"));
        var graph = model.Trace(224, 224);
        var (alive, convs) = (ForwardMemory.TensorsAliveAtOnce(graph).BytesPerImage, ForwardMemory.LayerOutputsAliveAtOnce(graph).BytesPerImage);
        Assert.True(alive > 2 * convs, $"{alive} vs {convs}");
        Assert.InRange(alive / 1e6, 20, 26.8);   // 23.2 MB: the stem's first block at 112 x 112, its input and its eight maps
        Assert.InRange(convs / 1e6, 5, 12);      // 7.6 MB: that block's two convs' outputs, the input and its array
    }

    [Fact]
    public void Eval_takes_an_asked_batch_larger_than_the_data_and_refuses_one_that_surely_cannot_fit()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        CliRunner.TrainTiny(run);
        var small = CliRunner.Run("eval", "--run", run, "--subset", "1", "--batch-size", "1000000", "--out", dir.File("e1"));
        Assert.True(small.Code == 0, small.Err);   // ten images: a batch of a million never fills
        var big = CliRunner.Run("eval", "--run", run, "--batch-size", "1000000", "--image-size", "512", "--out", dir.File("e2"));
        CliRunner.AssertUserError(big, "parnet eval: --batch-size: a batch of 10,000 images takes at least ");
        Assert.False(Directory.Exists(dir.File("e2")));
    }
}
