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
