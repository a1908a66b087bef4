using ParNet.Fusion;
using ParNet.Models;
using ParNet.Models.Blocks;
using static TorchSharp.torch;

namespace ParNet.Tests.Fusion;

/// <summary>Every block type against its unfused form, eval mode, randomized BN statistics and weights.</summary>
public class FusedBlockTests
{
    const double Tolerance = 1e-5;

    static Tensor Input(int channels, int size, long seed)
    {
        manual_seed(seed);
        return randn(2, channels, size, size) * 2.0;
    }

    [Theory]
    [InlineData(true, ActivationKind.SiLU)]
    [InlineData(false, ActivationKind.SiLU)]
    [InlineData(true, ActivationKind.ReLU)]
    [InlineData(false, ActivationKind.ReLU)]
    public void Stream_block_with_and_without_sse(bool useSse, ActivationKind activation)
    {
        using var trained = new StreamBlock(12, activation, useSse);
        FusionTestSupport.Randomize(trained, seed: 10);
        using var fused = FusedStreamBlock.From(trained);
        Assert.Equal(useSse, fused.Identity is not null);   // without SSE the identity BN folds into rbr_reparam
        double error = FusionTestSupport.Compare(trained, fused, Input(12, 9, 11));
        Assert.True(error <= Tolerance, $"relative L2 {error:E3}");
    }

    /// <summary>The fused stream block's forward on running statistics folds the identity BN into its gate and sum (and at batch 1
    /// into the conv's bias), and without autograd runs its activation in place: each way, the trained block's function.</summary>
    [Theory]
    [InlineData(1, ActivationKind.SiLU)]
    [InlineData(3, ActivationKind.SiLU)]
    [InlineData(1, ActivationKind.ReLU)]
    public void Stream_block_matches_the_trained_one_with_autograd_and_without_at_batch_one_and_more(int batch, ActivationKind activation)
    {
        using var trained = new StreamBlock(12, activation, useSse: true);
        FusionTestSupport.Randomize(trained, seed: 12);
        using var fused = FusedStreamBlock.From(trained);
        trained.eval();
        fused.eval();
        using var scope = NewDisposeScope();
        manual_seed(13);
        var x = randn(batch, 12, 9, 9) * 2.0;
        var before = x.clone();

        // with autograd: the same output and the same input gradient
        var (xTrained, xFused) = (x.clone().requires_grad_(), x.clone().requires_grad_());
        var expected = trained.call(xTrained);
        var actual = fused.call(xFused);
        FusionTestSupport.AssertMeaningful(expected.detach());
        Assert.True(FusionTestSupport.RelativeL2(actual.detach(), expected.detach()) <= Tolerance, "with autograd");
        expected.sum().backward();
        actual.sum().backward();
        Assert.True(FusionTestSupport.RelativeL2(xFused.grad!, xTrained.grad!) <= Tolerance, "input gradient");

        // without autograd
        using (no_grad())
        {
            double error = FusionTestSupport.RelativeL2(fused.call(x), expected.detach());
            Assert.True(error <= Tolerance, $"without autograd: relative L2 {error:E3}");
        }
        Assert.True(FusionTestSupport.Same(x, before), "the block wrote into its input");
    }

    [Theory]
    [InlineData(3, 16, 2, 1)]    // stem
    [InlineData(8, 16, 2, 1)]    // stream entry
    [InlineData(16, 24, 2, 2)]   // fusion conv of downsamples_2 (groups 2)
    [InlineData(16, 16, 1, 2)]   // fusion conv of combine: stride 1, groups 2
    [InlineData(8, 12, 1, 1)]    // stride 1, Cin != Cout, plain 1x1
    public void Downsampling_block(int cin, int cout, int stride, int groups)
    {
        using var trained = new DownsamplingBlock(cin, cout, stride, groups, ActivationKind.SiLU);
        FusionTestSupport.Randomize(trained, seed: 20 + cin + stride);
        using var fused = FusedDownsamplingBlock.From(trained);
        Assert.Equal(groups, fused.Reparam.groups);
        double error = FusionTestSupport.Compare(trained, fused, Input(cin, 10, 21));
        Assert.True(error <= Tolerance, $"relative L2 {error:E3}");
    }

    [Fact]
    public void Stride_two_fused_block_rejects_odd_sizes_as_the_trained_one_cannot_run_them()
    {
        using var fused = new FusedDownsamplingBlock(4, 8, 2, 1, ActivationKind.SiLU);
        Assert.Throws<ArgumentException>(() => fused.call(zeros(1, 4, 9, 8)));
    }

    [Fact]
    public void Cifar_final_conv()
    {
        using var trained = new ConvBnAct(16, 24, kernel: 1, stride: 1, ActivationKind.SiLU);
        FusionTestSupport.Randomize(trained, seed: 30);
        using var fused = FusedConvAct.From(trained);
        double error = FusionTestSupport.Compare(trained, fused, Input(16, 6, 31));
        Assert.True(error <= Tolerance, $"relative L2 {error:E3}");
    }

    [Theory]
    [InlineData(2)]
    [InlineData(1)]
    public void Fusion_stage_with_groups_two_keeps_its_input_norms(int stride)
    {
        const int width = 8, outWidth = 16;
        var block = new DownsamplingBlock(2 * width, outWidth, stride, groups: 2, ActivationKind.SiLU);
        using var trained = new StreamMergeStage(new StreamMergeInputs(width), block, null);
        FusionTestSupport.Randomize(trained, seed: 40 + stride);
        using var fused = new StreamMergeStage(new StreamMergeInputs(width), new FusedDownsamplingBlock(2 * width, outWidth, stride, 2, ActivationKind.SiLU), null);
        FusedWeights.Load(fused, trained, new Dictionary<string, (Tensor, Tensor)> { ["2."] = BlockReparameterization.Of(block) });
        Assert.Contains("0.b1.running_mean", fused.state_dict().Keys);

        trained.eval();
        fused.eval();
        using var noGrad = no_grad();
        var (stream, path) = (Input(width, 8, 42), Input(width, 8, 43));
        var expected = trained.call(stream, path);
        double error = FusionTestSupport.RelativeL2(fused.call(stream, path), expected);
        Assert.True(error <= Tolerance, $"relative L2 {error:E3}");
    }

    [Fact]
    public void Fusing_a_block_does_not_modify_it()
    {
        using var trained = new DownsamplingBlock(6, 8, 2, 1, ActivationKind.SiLU);
        FusionTestSupport.Randomize(trained, seed: 50);
        trained.train();
        var before = FusionTestSupport.Snapshot(trained);
        using var fused = FusedDownsamplingBlock.From(trained);
        Assert.True(trained.training);
        foreach (var (key, value) in trained.state_dict())
            Assert.True(FusionTestSupport.Same(value, before[key]), key);
    }
}
