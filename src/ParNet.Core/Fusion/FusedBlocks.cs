using ParNet.Models;
using ParNet.Models.Blocks;
using static TorchSharp.torch;

namespace ParNet.Fusion;

/// <summary>Builds a <see cref="ParNetModel"/> from fused blocks (empty: weights come from a fuse or a fused checkpoint).</summary>
public sealed class FusedBlocks : IParNetBlockFactory
{
    public static FusedBlocks Instance { get; } = new();

    public nn.Module<Tensor, Tensor> StreamBlock(int channels, ActivationKind activation, bool useSse) =>
        new FusedStreamBlock(channels, activation, useSse);

    public nn.Module<Tensor, Tensor> DownsamplingBlock(int inChannels, int outChannels, int stride, int groups, ActivationKind activation) =>
        new FusedDownsamplingBlock(inChannels, outChannels, stride, groups, activation);

    public nn.Module<Tensor, Tensor> FinalConv(int inChannels, int outChannels, ActivationKind activation) =>
        new FusedConvAct(inChannels, outChannels, kernel: 1, stride: 1, activation);
}

/// <summary>The fused blocks' one conv, with the bias that carries their folded BatchNorms.</summary>
static class FusedConv
{
    /// <summary>nn.Conv2d with a bias, built in a dispose scope: TorchSharp 0.107's Conv2d with a bias leaves a temporary of
    /// its initialization behind, one live tensor per fused conv for as long as the process runs (the parameters
    /// themselves are not the scope's).</summary>
    public static TorchSharp.Modules.Conv2d Create(int inChannels, int outChannels, int kernel, int stride = 1, int groups = 1)
    {
        using (NewDisposeScope()) return nn.Conv2d(inChannels, outChannels, kernel, stride: stride, padding: kernel / 2, groups: groups, bias: true);
    }
}
