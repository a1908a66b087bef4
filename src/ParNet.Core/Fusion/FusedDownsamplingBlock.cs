using TorchSharp.Modules;
using ParNet.Models;
using ParNet.Models.Blocks;
using static TorchSharp.torch;
using ParNet.Models.Tracing;

namespace ParNet.Fusion;

/// <summary>
/// A <see cref="DownsamplingBlock"/> after re-parameterization, Cin -> Cout, stride 1 or 2, groups 1 or 2:
/// act( conv3x3_bias(x) * 2 * sigmoid(conv1x1(avgpool(x))) ). The dense and (pooled) 1x1 branches are one
/// conv (key rbr_reparam); the gate (key se.) stays. Stride 2 is exact for even H and W only, as the
/// training form (whose branches do not even line up otherwise).
/// </summary>
public sealed class FusedDownsamplingBlock : nn.Module<Tensor, Tensor>, ITraceable
{
    private readonly Conv2d rbr_reparam;
    private readonly ChannelGate se;
    private readonly nn.Module<Tensor, Tensor> act;
    private readonly ActivationKind _activation;

    public FusedDownsamplingBlock(int inChannels, int outChannels, int stride, int groups, ActivationKind activation)
        : base(nameof(FusedDownsamplingBlock))
    {
        DownsamplingBlock.CheckArguments(inChannels, outChannels, stride, groups);
        rbr_reparam = FusedConv.Create(inChannels, outChannels, 3, stride, groups);
        se = new ChannelGate(inChannels, outChannels, groups, scale: 2.0);
        act = Activations.Create(activation);
        Stride = stride;
        _activation = activation;
        RegisterComponents();
    }

    public int Stride { get; }
    public Conv2d Reparam => rbr_reparam;
    public ChannelGate Gate => se;

    public override Tensor forward(Tensor x)
    {
        if (Stride == 2 && (x.shape[^1] % 2 != 0 || x.shape[^2] % 2 != 0))
            throw new ArgumentException($"a stride-2 block needs an even height and width; got {x.shape[^2]}x{x.shape[^1]}");
        if (is_grad_enabled()) return act.call(Convolutions.Apply(rbr_reparam, x) * se.call(x));
        // without autograd the product and the activation overwrite the conv's output (two passes over the map, no new ones)
        var gate = se.call(x);
        return Activations.ApplyInPlace(_activation, Convolutions.Apply(rbr_reparam, x).mul_(gate));
    }

    public GraphNode Trace(LayerGraph g, string prefix, GraphNode x) =>
        g.Activation(_activation, g.Mul(g.Conv(rbr_reparam, prefix + "rbr_reparam", x), se.Trace(g, prefix + "se.", x)));

    /// <summary>The fused form of a trained block: a new module, the trained one untouched.</summary>
    public static FusedDownsamplingBlock From(DownsamplingBlock trained)
    {
        var conv = trained.Dense.Conv;
        var fused = new FusedDownsamplingBlock((int)conv.in_channels, (int)conv.out_channels, trained.Stride, (int)conv.groups, trained.Activation);
        FusedWeights.Load(fused, trained, BlockReparameterization.Of(trained));
        return fused;
    }
}
