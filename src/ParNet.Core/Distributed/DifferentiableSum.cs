using static TorchSharp.torch;

namespace ParNet.Distributed;

/// <summary>
/// A sum over processes that autograd can go through (SyncBatchNorm's statistics): forward all-reduces the
/// tensor; backward all-reduces the incoming gradient, because every process's loss depends on every
/// process's contribution to the sum. With one process it is the identity both ways.
/// </summary>
public sealed class DifferentiableSum : autograd.SingleTensorFunction<DifferentiableSum>
{
    public override string Name => "ParNetAllReduceSum";

    /// <summary>vars: the tensor, then the <see cref="IProcessGroup"/>.</summary>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var input = (Tensor)vars[0];
        var group = (IProcessGroup)vars[1];
        ctx.save_data("group", group);
        var sum = input.detach().contiguous().clone();
        group.AllReduceSum(sum);
        return sum;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var group = (IProcessGroup)ctx.get_data("group");
        var sum = gradOutput.contiguous().clone();
        group.AllReduceSum(sum);
        return [sum, null!];   // one gradient per argument: none for the group
    }

    /// <summary>The element-wise sum of <paramref name="x"/> over all processes, differentiable.</summary>
    public static Tensor Of(Tensor x, IProcessGroup group) => apply(x, group);
}
