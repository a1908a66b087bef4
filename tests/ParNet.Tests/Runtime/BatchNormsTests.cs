using ParNet.Models.Blocks;
using static TorchSharp.torch;
using ParNet.Runtime;

namespace ParNet.Tests.Runtime;

public class BatchNormsTests
{
    /// <summary>Same numbers as TorchSharp's BatchNorm2d, in training (batch statistics, running stats) and eval.</summary>
    [Fact]
    public void Forward_matches_TorchSharp_BatchNorm2d_over_many_dispose_scopes()
    {
        manual_seed(4);
        using var ours = nn.BatchNorm2d(6);
        using var theirs = nn.BatchNorm2d(6);
        ours.train(); theirs.train();
        for (int step = 0; step < 5; step++)   // each step its own dispose scope, as in training
        {
            using var scope = NewDisposeScope();
            var x = randn(4, 6, 5, 5) * 3 + 1;
            Assert.True(allclose(BatchNorms.Forward(ours, x), theirs.call(x), 1e-5, 1e-6));
        }
        Assert.Equal(5, ours.num_batches_tracked!.item<long>());
        Assert.True(allclose(ours.running_mean!, theirs.running_mean!, 1e-5, 1e-6));
        Assert.True(allclose(ours.running_var!, theirs.running_var!, 1e-5, 1e-6));
        ours.eval(); theirs.eval();
        using var s2 = NewDisposeScope();
        var y = randn(2, 6, 5, 5);
        Assert.True(allclose(BatchNorms.Forward(ours, y), theirs.call(y), 1e-5, 1e-6));
    }

    /// <summary>The stream merge's two batch norms as one over the interleaved input: the same outputs, parameter gradients,
    /// running statistics and batch counts as TorchSharp's two BatchNorm2d applied to the halves, in training and eval.</summary>
    [Fact]
    public void Two_interleaved_batch_norms_as_one_match_two_BatchNorm2d()
    {
        manual_seed(8);
        using var first = nn.BatchNorm2d(5);
        using var second = nn.BatchNorm2d(5);
        using var firstRef = nn.BatchNorm2d(5);
        using var secondRef = nn.BatchNorm2d(5);
        using (no_grad())
            foreach (var (bn, reference) in new[] { (first, firstRef), (second, secondRef) })
            {
                var w = rand(5) + 0.5; var b = randn(5);
                bn.weight!.copy_(w); reference.weight!.copy_(w);
                bn.bias!.copy_(b); reference.bias!.copy_(b);
            }
        for (int step = 0; step < 3; step++)
        {
            using var scope = NewDisposeScope();
            var a = MemoryFormat.ToChannelsLast(randn(4, 5, 3, 3) * 2 + 1);
            var c = MemoryFormat.ToChannelsLast(randn(4, 5, 3, 3) - 1);
            var y = BatchNorms.ForwardInterleaved(first, second, StreamMergeInputs.Interleave(a, c));
            var expected = stack([firstRef.call(a), secondRef.call(c)], dim: 2).flatten(1, 2);
            Assert.True(allclose(y, expected, 1e-5, 1e-6), "outputs differ");
            var upstream = randn_like(y);
            (y * upstream).sum().backward();
            (expected * upstream).sum().backward();
        }
        foreach (var (bn, reference) in new[] { (first, firstRef), (second, secondRef) })
        {
            Assert.True(allclose(bn.weight!.grad!, reference.weight!.grad!, 1e-4, 1e-5), "weight gradients differ");
            Assert.True(allclose(bn.bias!.grad!, reference.bias!.grad!, 1e-4, 1e-5), "bias gradients differ");
            Assert.True(allclose(bn.running_mean!, reference.running_mean!, 1e-5, 1e-6), "running means differ");
            Assert.True(allclose(bn.running_var!, reference.running_var!, 1e-5, 1e-6), "running variances differ");
            Assert.Equal(3, bn.num_batches_tracked!.item<long>());
        }
        first.eval(); second.eval(); firstRef.eval(); secondRef.eval();
        using var evalScope = NewDisposeScope();
        var p = randn(2, 5, 3, 3); var q = randn(2, 5, 3, 3);
        Assert.True(allclose(BatchNorms.ForwardInterleaved(first, second, StreamMergeInputs.Interleave(p, q)),
                             stack([firstRef.call(p), secondRef.call(q)], dim: 2).flatten(1, 2), 1e-5, 1e-6), "eval outputs differ");
    }
}
