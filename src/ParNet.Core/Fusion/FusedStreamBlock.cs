using TorchSharp.Modules;
using ParNet.Models;
using ParNet.Models.Blocks;
using static TorchSharp.torch;
using ParNet.Models.Tracing;
using ParNet.Runtime;

namespace ParNet.Fusion;

/// <summary>
/// A <see cref="StreamBlock"/> after re-parameterization, C -> C, stride 1:
/// act( conv3x3_bias(x) + BN(x) * sigmoid(conv1x1(avgpool(BN(x)))) ).
/// The dense and 1x1 branches are one conv (key rbr_reparam); the identity BN and its gate stay, the gate
/// makes them non-linear. Without SSE the identity branch is linear too and folds into rbr_reparam.
/// </summary>
public sealed class FusedStreamBlock : nn.Module<Tensor, Tensor>, ITraceable
{
    private readonly Conv2d rbr_reparam;
    private readonly BatchNorm2d? rbr_identity;
    private readonly ChannelGate? se;
    private readonly nn.Module<Tensor, Tensor> act;
    private readonly ActivationKind _activation;

    public FusedStreamBlock(int channels, ActivationKind activation, bool useSse) : base(nameof(FusedStreamBlock))
    {
        rbr_reparam = nn.Conv2d(channels, channels, 3, padding: 1, bias: true);
        rbr_identity = useSse ? nn.BatchNorm2d(channels) : null;
        se = useSse ? new ChannelGate(channels, channels) : null;
        act = Activations.Create(activation);
        _activation = activation;
        RegisterComponents();
    }

    public Conv2d Reparam => rbr_reparam;
    public BatchNorm2d? Identity => rbr_identity;
    public ChannelGate? Gate => se;

    public override Tensor forward(Tensor x)
    {
        var y = Convolutions.Apply(rbr_reparam, x);
        if (rbr_identity is not null)
        {
            var identity = BatchNorms.Forward(rbr_identity, x);
            y = y.add(identity * se!.call(identity), PersistentScalars.One);
        }
        return act.call(y);
    }

    public GraphNode Trace(LayerGraph g, string prefix, GraphNode x)
    {
        var y = g.Conv(rbr_reparam, prefix + "rbr_reparam", x);
        if (rbr_identity is not null)
        {
            var identity = g.BatchNorm(rbr_identity, prefix + "rbr_identity", x);
            y = g.Sum(y, g.Mul(identity, se!.Trace(g, prefix + "se.", identity)));
        }
        return g.Activation(_activation, y);
    }

    /// <summary>The fused form of a trained block: a new module, the trained one untouched.</summary>
    public static FusedStreamBlock From(StreamBlock trained)
    {
        var fused = new FusedStreamBlock((int)trained.Dense.Conv.in_channels, trained.Activation, trained.Gate is not null);
        FusedWeights.Load(fused, trained, BlockReparameterization.Of(trained));
        return fused;
    }
}
