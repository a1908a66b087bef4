using TorchSharp.Modules;
using static TorchSharp.torch;
using ParNet.Models.Tracing;
using ParNet.Runtime;

namespace ParNet.Models.Blocks;

/// <summary>The 1x1 conv of a gate (key prefix se.cvsig.): the released code's ConvBnAct without BN or bias.</summary>
public sealed class GateConv : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv;

    public GateConv(int inChannels, int outChannels, int groups) : base(nameof(GateConv))
    {
        conv = nn.Conv2d(inChannels, outChannels, 1, groups: groups, bias: false);
        RegisterComponents();
    }

    public Conv2d Conv => conv;

    public override Tensor forward(Tensor x) => Convolutions.Apply(conv, x);
}

/// <summary>
/// Squeeze-excitation-style gate with no reduction: scale * sigmoid(conv1x1(global average pool(x))).
/// Scale 1 is the Skip-Squeeze-Excitation of stream blocks; scale 2 the gate of downsampling blocks.
/// </summary>
public sealed class ChannelGate : nn.Module<Tensor, Tensor>, ITraceable
{
    private readonly GateConv cvsig;
    private readonly double _scale;
    private readonly TorchSharp.Scalar _scaleScalar;   // kept alive with the module (see BatchNorms)

    public ChannelGate(int inChannels, int outChannels, int groups = 1, double scale = 1.0) : base(nameof(ChannelGate))
    {
        cvsig = new GateConv(inChannels, outChannels, groups);
        _scale = scale;
        _scaleScalar = PersistentScalars.PersistentScalar(scale);
        RegisterComponents();
    }

    public double Scale => _scale;
    public Conv2d Conv => cvsig.Conv;

    public override Tensor forward(Tensor x) => OfPooled(GlobalAveragePool.Apply(x));

    /// <summary>The gate from x's pooled [N, C, 1, 1] map.</summary>
    public Tensor OfPooled(Tensor pooled)
    {
        var gate = nn.functional.sigmoid(cvsig.call(pooled));
        return _scale == 1.0 ? gate : gate.mul(_scaleScalar);
    }

    public GraphNode Trace(LayerGraph g, string prefix, GraphNode x)
    {
        var gate = g.Sigmoid(g.Conv(cvsig.Conv, prefix + "cvsig.conv", g.GlobalAvgPool(x)));
        return _scale == 1.0 ? gate : g.Scale(gate, _scale);
    }
}
