using TorchSharp.Modules;
using static TorchSharp.torch;
using ParNet.Models.Tracing;
using ParNet.Runtime;

namespace ParNet.Models.Blocks;

/// <summary>
/// RepVGG-SSE block, C -> C, stride 1 (the blocks of every stream):
/// act( BN(conv3x3(x)) + BN(conv1x1(x)) + BN(x) * sigmoid(conv1x1(avgpool(BN(x)))) ).
/// Without SSE (Table 7 ablation) the identity branch is plain BN(x), as in RepVGG.
/// </summary>
public sealed class StreamBlock : nn.Module<Tensor, Tensor>, ITraceable
{
    private readonly BatchNorm2d rbr_identity;
    private readonly ConvBn rbr_dense;
    private readonly ConvBn rbr_1x1;
    private readonly ChannelGate? se;
    private readonly nn.Module<Tensor, Tensor> act;
    private readonly ActivationKind _activation;

    public StreamBlock(int channels, ActivationKind activation, bool useSse) : base(nameof(StreamBlock))
    {
        rbr_identity = nn.BatchNorm2d(channels);
        rbr_dense = new ConvBn(channels, channels, kernel: 3);
        rbr_1x1 = new ConvBn(channels, channels, kernel: 1);
        se = useSse ? new ChannelGate(channels, channels) : null;
        act = Activations.Create(activation);
        _activation = activation;
        RegisterComponents();
    }

    public BatchNorm2d Identity => rbr_identity;
    public ConvBn Dense => rbr_dense;
    public ConvBn Pointwise => rbr_1x1;
    public ChannelGate? Gate => se;
    public ActivationKind Activation => _activation;

    public override Tensor forward(Tensor x)
    {
        var identity = BatchNorms.Forward(rbr_identity, x);
        var skip = se is null ? identity : identity * se.call(identity);
        return act.call(rbr_dense.call(x).add(rbr_1x1.call(x), PersistentScalars.One).add_(skip, PersistentScalars.One));
    }

    public GraphNode Trace(LayerGraph g, string prefix, GraphNode x)
    {
        var identity = g.BatchNorm(rbr_identity, prefix + "rbr_identity", x);
        var skip = se is null ? identity : g.Mul(identity, se.Trace(g, prefix + "se.", identity));
        var sum = g.Sum(rbr_dense.Trace(g, prefix + "rbr_dense.", x), rbr_1x1.Trace(g, prefix + "rbr_1x1.", x), skip);
        return g.Activation(_activation, sum);
    }
}
