using static TorchSharp.torch;

namespace ParNet.Models.Blocks;

/// <summary>The training form: <see cref="Blocks.StreamBlock"/>, <see cref="Blocks.DownsamplingBlock"/>, <see cref="ConvBnAct"/>.</summary>
public sealed class TrainingBlocks : IParNetBlockFactory
{
    public static TrainingBlocks Instance { get; } = new();

    public nn.Module<Tensor, Tensor> StreamBlock(int channels, ActivationKind activation, bool useSse) =>
        new StreamBlock(channels, activation, useSse);

    public nn.Module<Tensor, Tensor> DownsamplingBlock(int inChannels, int outChannels, int stride, int groups, ActivationKind activation) =>
        new DownsamplingBlock(inChannels, outChannels, stride, groups, activation);

    public nn.Module<Tensor, Tensor> FinalConv(int inChannels, int outChannels, ActivationKind activation) =>
        new ConvBnAct(inChannels, outChannels, kernel: 1, stride: 1, activation);
}
