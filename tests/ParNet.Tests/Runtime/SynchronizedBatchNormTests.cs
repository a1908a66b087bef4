using ParNet.Runtime;
using static TorchSharp.torch;

namespace ParNet.Tests.Runtime;

public class SynchronizedBatchNormTests
{
    /// <summary>
    /// With one process the cross-process sum is the identity, so the synchronized path must compute what
    /// libtorch's batch_norm does: output, input and parameter gradients, and the running statistics.
    /// </summary>
    [Fact]
    public void The_synchronized_forward_over_one_process_matches_libtorch_batch_norm_and_its_gradients()
    {
        manual_seed(3);
        var x = (randn(16, 6, 5, 5) * 3 + 2).requires_grad_(true);
        var upstream = randn(16, 6, 5, 5);
        (Tensor Y, Tensor Gx, Tensor Gw, Tensor Gb, Tensor Mean, Tensor Var) Run(bool synchronized)
        {
            using var bn = nn.BatchNorm2d(6);
            manual_seed(4);
            using (no_grad()) { bn.weight!.uniform_(0.5, 1.5); bn.bias!.uniform_(-1, 1); }
            bn.train();
            x.grad?.zero_();
            Tensor y;
            using (synchronized ? BatchNorms.SynchronizeStatistics(t => t * 1) : null) y = BatchNorms.Forward(bn, x);
            (y * upstream).sum().backward();
            return (y.detach(), x.grad!.clone(), bn.weight!.grad!.clone(), bn.bias!.grad!.clone(), bn.running_mean!.clone(), bn.running_var!.clone());
        }
        var plain = Run(false);
        var synced = Run(true);
        foreach (var (a, b, what) in new[] { (synced.Y, plain.Y, "output"), (synced.Gx, plain.Gx, "input gradient"), (synced.Gw, plain.Gw, "weight gradient"),
                                             (synced.Gb, plain.Gb, "bias gradient"), (synced.Mean, plain.Mean, "running mean"), (synced.Var, plain.Var, "running variance") })
        {
            double rel = Models.OfficialParityTests.RelativeL2(a, b);
            Assert.True(rel < 1e-5, $"{what}: relative L2 {rel:G3}");
        }
    }

    /// <summary>
    /// The stream merge's two batch norms (<see cref="BatchNorms.ForwardInterleaved"/>) synchronize as one: a single
    /// cross-process sum per forward for both layers (it took two, one per half, before), and over one process the same
    /// outputs, gradients and running statistics as without synchronization.
    /// </summary>
    [Fact]
    public void Two_interleaved_batch_norms_synchronize_with_one_cross_process_sum_and_match_the_unsynchronized_ones()
    {
        manual_seed(5);
        var x = (randn(8, 10, 4, 4) * 2 + 1).requires_grad_(true);
        var upstream = randn(8, 10, 4, 4);
        int sums = 0;
        (Tensor Y, Tensor Gx, Tensor Gw, Tensor Mean, Tensor Var) Run(bool synchronized)
        {
            using var first = nn.BatchNorm2d(5);
            using var second = nn.BatchNorm2d(5);
            manual_seed(6);
            using (no_grad()) foreach (var bn in new[] { first, second }) { bn.weight!.uniform_(0.5, 1.5); bn.bias!.uniform_(-1, 1); }
            x.grad?.zero_();
            Tensor y;
            using (synchronized ? BatchNorms.SynchronizeStatistics(t => { sums++; return t * 1; }) : null)
                y = BatchNorms.ForwardInterleaved(first, second, x);
            (y * upstream).sum().backward();
            return (y.detach(), x.grad!.clone(), cat([first.weight!.grad!, second.weight!.grad!]),
                    cat([first.running_mean!, second.running_mean!]), cat([first.running_var!, second.running_var!]));
        }
        var plain = Run(false);
        Assert.Equal(0, sums);
        var synced = Run(true);
        Assert.Equal(1, sums);
        foreach (var (a, b, what) in new[] { (synced.Y, plain.Y, "output"), (synced.Gx, plain.Gx, "input gradient"), (synced.Gw, plain.Gw, "weight gradients"),
                                             (synced.Mean, plain.Mean, "running means"), (synced.Var, plain.Var, "running variances") })
        {
            double rel = Models.OfficialParityTests.RelativeL2(a, b);
            Assert.True(rel < 1e-5, $"{what}: relative L2 {rel:G3}");
        }
    }
}
