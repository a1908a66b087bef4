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

    public override Tensor forward(Tensor x)
    {
        var y = block.call(x);
        return dropout is null ? y : dropout.call(y);
    }

    public GraphNode Trace(LayerGraph g, string prefix, GraphNode x)
    {
        var y = ((ITraceable)block).Trace(g, prefix + "block.", x);
        return dropout is null ? y : g.Dropout(y, _dropout);
    }
}
