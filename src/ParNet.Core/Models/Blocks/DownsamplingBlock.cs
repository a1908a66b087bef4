using TorchSharp.Modules;
using static TorchSharp.torch;
using ParNet.Models.Tracing;
using ParNet.Runtime;

namespace ParNet.Models.Blocks;

/// <summary>
/// Downsampling block, Cin -> Cout (the stem, the stream entries, the merge convs, the wide block):
/// act( (BN(conv3x3 stride s(x)) + BN(conv1x1(pool(x)))) * 2 * sigmoid(conv1x1(avgpool(x))) ).
/// Stride 2 pools the 1x1 branch with AvgPool2d(2) (keys rbr_1x1.1.*); stride 1 (a block that only
/// changes width) uses a plain 1x1 branch (keys rbr_1x1.*). Groups 2 inside merge stages. No identity.
/// </summary>
public sealed class DownsamplingBlock : nn.Module<Tensor, Tensor>, ITraceable
{
    private readonly ConvBn rbr_dense;
    private readonly nn.Module<Tensor, Tensor> rbr_1x1;
    private readonly ChannelGate se;
    private readonly nn.Module<Tensor, Tensor> act;
    private readonly ActivationKind _activation;

    public DownsamplingBlock(int inChannels, int outChannels, int stride, int groups, ActivationKind activation)
        : base(nameof(DownsamplingBlock))
    {
        CheckArguments(inChannels, outChannels, stride, groups);
        rbr_dense = new ConvBn(inChannels, outChannels, kernel: 3, stride: stride, groups: groups);
        var pointwise = new ConvBn(inChannels, outChannels, kernel: 1, groups: groups);
        rbr_1x1 = stride == 2 ? nn.Sequential(nn.AvgPool2d(2, stride: 2), pointwise) : pointwise;
        se = new ChannelGate(inChannels, outChannels, groups, scale: 2.0);
        act = Activations.Create(activation);
        Stride = stride;
        _activation = activation;
        RegisterComponents();
    }

    public int Stride { get; }

    /// <summary>The shape rules shared with the fused form (Fusion/FusedDownsamplingBlock).</summary>
    public static void CheckArguments(int inChannels, int outChannels, int stride, int groups)
    {
        if (stride is not (1 or 2)) throw new ArgumentException($"stride must be 1 or 2; got {stride}");
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"channels {inChannels} -> {outChannels} are not divisible by groups {groups}");
    }
    public ConvBn Dense => rbr_dense;
    /// <summary>The 1x1 conv+BN (behind the 2x2 average pool when Stride is 2).</summary>
    public ConvBn Pointwise => rbr_1x1 as ConvBn ?? (ConvBn)((Sequential)rbr_1x1)[1];
    public ChannelGate Gate => se;
    public ActivationKind Activation => _activation;

    public override Tensor forward(Tensor x) =>
        act.call(rbr_dense.call(x).add(rbr_1x1.call(x), PersistentScalars.One) * se.call(x));

    public GraphNode Trace(LayerGraph g, string prefix, GraphNode x)
    {
        var pooled = Stride == 2 ? g.AvgPool2x2(x) : x;
        string pointwisePrefix = prefix + (Stride == 2 ? "rbr_1x1.1." : "rbr_1x1.");
        var sum = g.Sum(rbr_dense.Trace(g, prefix + "rbr_dense.", x), Pointwise.Trace(g, pointwisePrefix, pooled));
        return g.Activation(_activation, g.Mul(sum, se.Trace(g, prefix + "se.", x)));
    }
}
