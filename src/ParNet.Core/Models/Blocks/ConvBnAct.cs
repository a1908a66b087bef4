using static TorchSharp.torch;
using ParNet.Models.Tracing;

namespace ParNet.Models.Blocks;

/// <summary>act(BN(conv(x))): the CIFAR layout's narrow 1x1 conv at depth 11 and ResNet stems.</summary>
public sealed class ConvBnAct : nn.Module<Tensor, Tensor>, ITraceable
{
    private readonly ConvBn convbn;
    private readonly nn.Module<Tensor, Tensor> act;
    private readonly ActivationKind _activation;

    public ConvBnAct(int inChannels, int outChannels, int kernel, int stride, ActivationKind activation) : base(nameof(ConvBnAct))
    {
        convbn = new ConvBn(inChannels, outChannels, kernel, stride);
        act = Activations.Create(activation);
        _activation = activation;
        RegisterComponents();
    }

    public ConvBn ConvBn => convbn;
    public ActivationKind Activation => _activation;

    public override Tensor forward(Tensor x) => act.call(convbn.call(x));

    public GraphNode Trace(LayerGraph g, string prefix, GraphNode x) =>
        g.Activation(_activation, convbn.Trace(g, prefix + "convbn.", x));
}
