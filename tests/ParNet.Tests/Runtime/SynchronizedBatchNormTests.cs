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
}
