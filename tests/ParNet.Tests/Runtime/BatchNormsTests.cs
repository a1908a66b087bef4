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
}
