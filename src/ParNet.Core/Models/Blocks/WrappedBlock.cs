using static TorchSharp.torch;
using ParNet.Models.Tracing;

namespace ParNet.Models.Blocks;

/// <summary>
/// The released code wraps every block in a module whose only child is `block` (keys `....block.*`);
/// kept so checkpoints load unchanged. Dropout after the block is the CIFAR recipe's conv dropout.
/// </summary>
public sealed class WrappedBlock : nn.Module<Tensor, Tensor>, ITraceable
{
    private readonly nn.Module<Tensor, Tensor> block;
    private readonly nn.Module<Tensor, Tensor>? dropout;
    private readonly double _dropout;

    public WrappedBlock(nn.Module<Tensor, Tensor> inner, double dropoutRate = 0.0) : base(nameof(WrappedBlock))
    {
        block = inner;
        dropout = dropoutRate > 0 ? nn.Dropout(dropoutRate) : null;
        _dropout = dropoutRate;
        RegisterComponents();
    }

    public nn.Module<Tensor, Tensor> Block => block;
    public double DropoutRate => _dropout;

    /// <summary>The block in its own dispose scope: its intermediate maps (branches, batch norms, the gate, sums) are
    /// freed as it ends instead of living as long as the caller's scope; only its output is handed back. Autograd keeps
    /// what backward needs whatever the handles (memory per image: `bench/ParNet.Bench -- memory`).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = block.call(x);
        return (dropout is null ? y : dropout.call(y)).MoveToOuterDisposeScope();
    }

    public GraphNode Trace(LayerGraph g, string prefix, GraphNode x) => g.Scoped(() =>
    {
        var y = ((ITraceable)block).Trace(g, prefix + "block.", x);
        return dropout is null ? y : g.Dropout(y, _dropout);
    });
}
