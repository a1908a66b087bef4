using TorchSharp.Modules;
using ParNet.Analysis;
using static TorchSharp.torch;

namespace ParNet.Models.Blocks;

/// <summary>ResNet basic block: act(BN(conv3x3(act(BN(conv3x3 stride s(x))))) + shortcut(x)), torchvision keys.</summary>
public sealed class BasicResidualBlock : nn.Module<Tensor, Tensor>, ITraceable
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly ConvBn? downsample;
    private readonly nn.Module<Tensor, Tensor> act;
    private readonly ActivationKind _activation;

    public BasicResidualBlock(int inChannels, int outChannels, int stride, ActivationKind activation) : base(nameof(BasicResidualBlock))
    {
        conv1 = nn.Conv2d(inChannels, outChannels, 3, stride: stride, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(outChannels);
        conv2 = nn.Conv2d(outChannels, outChannels, 3, padding: 1, bias: false);
        bn2 = nn.BatchNorm2d(outChannels);
        downsample = stride != 1 || inChannels != outChannels ? new ConvBn(inChannels, outChannels, 1, stride) : null;
        act = Activations.Create(activation);
        _activation = activation;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var residual = bn2.call(conv2.call(act.call(bn1.call(conv1.call(x)))));
        return act.call(residual + (downsample is null ? x : downsample.call(x)));
    }

    public GraphNode Trace(LayerGraph g, string prefix, GraphNode x)
    {
        var h = g.Activation(_activation, g.BatchNorm(bn1, prefix + "bn1", g.Conv(conv1, prefix + "conv1", x)));
        var residual = g.BatchNorm(bn2, prefix + "bn2", g.Conv(conv2, prefix + "conv2", h));
        var shortcut = downsample is null ? x : downsample.Trace(g, prefix + "downsample.", x);
        return g.Activation(_activation, g.Sum(residual, shortcut));
    }
}
