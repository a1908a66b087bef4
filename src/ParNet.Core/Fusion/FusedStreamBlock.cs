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
/// On running statistics the forward pass computes the same function with fewer passes over the map
/// (<see cref="ConvPlusGatedIdentity"/>), and without autograd the activation runs in place.
/// </summary>
public sealed class FusedStreamBlock : nn.Module<Tensor, Tensor>, ITraceable
{
    private readonly Conv2d rbr_reparam;
    private readonly BatchNorm2d? rbr_identity;
    private readonly ChannelGate? se;
    private readonly nn.Module<Tensor, Tensor> act;
    private readonly ActivationKind _activation;
    private readonly TorchSharp.Scalar _eps;   // the identity BN's, kept alive with the module (PersistentScalars)

    public FusedStreamBlock(int channels, ActivationKind activation, bool useSse) : base(nameof(FusedStreamBlock))
    {
        rbr_reparam = FusedConv.Create(channels, channels, 3);
        rbr_identity = useSse ? nn.BatchNorm2d(channels) : null;
        se = useSse ? new ChannelGate(channels, channels) : null;
        act = Activations.Create(activation);
        _activation = activation;
        _eps = PersistentScalars.PersistentScalar(rbr_identity?.eps ?? 1e-5);
        RegisterComponents();
    }

    public Conv2d Reparam => rbr_reparam;
    public BatchNorm2d? Identity => rbr_identity;
    public ChannelGate? Gate => se;

    public override Tensor forward(Tensor x)
    {
        if (rbr_identity is null) return act.call(Convolutions.Apply(rbr_reparam, x));
        if (!BatchNorms.OnRunningStatistics(rbr_identity) || rbr_identity.weight is null || rbr_identity.bias is null)
        {
            // BN on batch statistics (a fused model put in training mode): as the diagram says
            var identity = BatchNorms.Forward(rbr_identity, x);
            return act.call(Convolutions.Apply(rbr_reparam, x).add(identity * se!.call(identity), PersistentScalars.One));
        }
        var y = ConvPlusGatedIdentity(x, rbr_identity);
        return is_grad_enabled() ? act.call(y) : Activations.ApplyInPlace(_activation, y);   // y is this block's own tensor
    }

    /// <summary>
    /// conv3x3_bias(x) + BN(x) * g, g = sigmoid(conv1x1(avgpool(BN(x)))), with BN on running statistics written as the
    /// per-channel affine map s x + t: avgpool(BN(x)) = s avgpool(x) + t and BN(x) g = x (s g) + t g. The full-size map
    /// then takes two passes after the conv (one at batch 1, where t g is per channel and goes into the conv's bias) instead
    /// of four (BN, its product with g, the sum, and the pooling reading BN's output instead of x): with the in-place
    /// activations, fused / unfused went from 1.38-1.46x to 1.44-1.49x on Zen 5 (RESULTS.md, "Fewer passes"). The same
    /// function up to float rounding.
    /// </summary>
    Tensor ConvPlusGatedIdentity(Tensor x, BatchNorm2d bn)
    {
        long c = x.size(1);
        var (s, t) = FusionMath.BatchNormAffine(bn.running_mean!, bn.running_var!, bn.weight!, bn.bias!, _eps);
        var (scale, shift) = (s.view(1, c, 1, 1), t.view(1, c, 1, 1));
        var gate = se!.OfPooled(GlobalAveragePool.Apply(x).mul(scale).add_(shift, PersistentScalars.One));
        var gatedShift = gate.mul(shift);
        Tensor y;
        if (x.size(0) == 1)
            y = Convolutions.Apply(rbr_reparam, x, rbr_reparam.bias!.add(gatedShift.view(c), PersistentScalars.One));
        else
            y = Convolutions.Apply(rbr_reparam, x).add_(gatedShift, PersistentScalars.One);
        return y.addcmul_(x, gate.mul(scale), PersistentScalars.One);
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
