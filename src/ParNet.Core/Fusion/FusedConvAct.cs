using TorchSharp.Modules;
using ParNet.Models;
using ParNet.Models.Blocks;
using static TorchSharp.torch;
using ParNet.Models.Tracing;

namespace ParNet.Fusion;

/// <summary>A <see cref="ConvBnAct"/> with its BN folded: act(conv_bias(x)) (key rbr_reparam, as every fused conv).</summary>
public sealed class FusedConvAct : nn.Module<Tensor, Tensor>, ITraceable
{
    private readonly Conv2d rbr_reparam;
    private readonly nn.Module<Tensor, Tensor> act;
    private readonly ActivationKind _activation;

    public FusedConvAct(int inChannels, int outChannels, int kernel, int stride, ActivationKind activation) : base(nameof(FusedConvAct))
    {
        rbr_reparam = FusedConv.Create(inChannels, outChannels, kernel, stride);
        act = Activations.Create(activation);
        _activation = activation;
        RegisterComponents();
    }

    public Conv2d Reparam => rbr_reparam;

    public override Tensor forward(Tensor x) => act.call(Convolutions.Apply(rbr_reparam, x));

    public GraphNode Trace(LayerGraph g, string prefix, GraphNode x) =>
        g.Activation(_activation, g.Conv(rbr_reparam, prefix + "rbr_reparam", x));

    /// <summary>The fused form of a trained block: a new module, the trained one untouched.</summary>
    public static FusedConvAct From(ConvBnAct trained)
    {
        var conv = trained.ConvBn.Conv;
        if (conv.groups != 1) throw new NotSupportedException("FusedConvAct: grouped ConvBnAct is not used by ParNet and not supported");
        var fused = new FusedConvAct((int)conv.in_channels, (int)conv.out_channels, (int)conv.kernel_size[0], (int)conv.stride[0], trained.Activation);
        FusedWeights.Load(fused, trained, BlockReparameterization.Of(trained));
        return fused;
    }
}
