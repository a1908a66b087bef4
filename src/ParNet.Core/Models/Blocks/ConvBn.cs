using TorchSharp.Modules;
using static TorchSharp.torch;
using ParNet.Models.Tracing;
using ParNet.Runtime;

namespace ParNet.Models.Blocks;

/// <summary>Conv (no bias) then BatchNorm: one branch of a RepVGG block. Keys: conv.weight, bn.*.</summary>
public sealed class ConvBn : nn.Module<Tensor, Tensor>, ITraceable
{
    private readonly Conv2d conv;
    private readonly BatchNorm2d bn;

    public ConvBn(int inChannels, int outChannels, int kernel, int stride = 1, int groups = 1) : base(nameof(ConvBn))
    {
        conv = nn.Conv2d(inChannels, outChannels, kernel, stride: stride, padding: kernel / 2, groups: groups, bias: false);
        bn = nn.BatchNorm2d(outChannels);   // eps 1e-5, momentum 0.1, as PyTorch and the released code
        RegisterComponents();
    }

    public Conv2d Conv => conv;
    public BatchNorm2d Bn => bn;

    public override Tensor forward(Tensor x) => BatchNorms.Forward(bn, Convolutions.Apply(conv, x));

    public GraphNode Trace(LayerGraph g, string prefix, GraphNode x) =>
        g.BatchNorm(bn, prefix + "bn", g.Conv(conv, prefix + "conv", x));
}
