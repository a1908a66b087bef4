using TorchSharp.Modules;
using static TorchSharp.torch;
using ParNet.Models.Tracing;
using ParNet.Runtime;

namespace ParNet.Models.Blocks;

/// <summary>
/// ResNet basic block: act(BN(conv3x3(act(BN(conv3x3 stride s(x))))) + shortcut(x)), torchvision keys.
/// The stride-2 1x1 shortcut is computed as a stride-1 1x1 conv on x[:, :, ::2, ::2] (the same function,
/// the same weights): libtorch 2.10's oneDNN brgemm backward of a stride-2 1x1 conv 512 -> 1024 dies with
/// SIGFPE (divide error in brg_blocking_t::est_eff_1x1) on this AVX-512 CPU, killing the process.
/// </summary>
public sealed class BasicResidualBlock : nn.Module<Tensor, Tensor>, ITraceable
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly ConvBn? downsample;
    private readonly nn.Module<Tensor, Tensor> act;
    private readonly ActivationKind _activation;
    private readonly int _stride;

    public BasicResidualBlock(int inChannels, int outChannels, int stride, ActivationKind activation) : base(nameof(BasicResidualBlock))
    {
        conv1 = nn.Conv2d(inChannels, outChannels, 3, stride: stride, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(outChannels);
        conv2 = nn.Conv2d(outChannels, outChannels, 3, padding: 1, bias: false);
        bn2 = nn.BatchNorm2d(outChannels);
        downsample = stride != 1 || inChannels != outChannels ? new ConvBn(inChannels, outChannels, 1) : null;
        _stride = stride;
        act = Activations.Create(activation);
        _activation = activation;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var residual = BatchNorms.Forward(bn2, Convolutions.Apply(conv2, act.call(BatchNorms.Forward(bn1, Convolutions.Apply(conv1, x)))));
        return act.call(residual.add(downsample is null ? x : downsample.call(Subsample(x)), PersistentScalars.One));
    }

    public GraphNode Trace(LayerGraph g, string prefix, GraphNode x)
    {
        var h = g.Activation(_activation, g.BatchNorm(bn1, prefix + "bn1", g.Conv(conv1, prefix + "conv1", x)));
        var residual = g.BatchNorm(bn2, prefix + "bn2", g.Conv(conv2, prefix + "conv2", h));
        var shortcut = downsample is null ? x : downsample.Trace(g, prefix + "downsample.", _stride == 2 ? g.Subsample2(x) : x);
        return g.Activation(_activation, g.Sum(residual, shortcut));
    }

    Tensor Subsample(Tensor x) => _stride == 2 ? x[.., .., TensorIndex.Slice(null, null, 2), TensorIndex.Slice(null, null, 2)] : x;
}
