using static TorchSharp.torch;

namespace ParNet.Models.Blocks;

/// <summary>
/// Makes the blocks a <see cref="ParNetModel"/> is assembled from. The model's layout (keys, widths,
/// strides, stream-merge stages, head) is the same whatever the factory; only the blocks differ:
/// <see cref="TrainingBlocks"/> (multi-branch, the default) or the fused inference blocks (ParNet.Fusion).
/// </summary>
public interface IParNetBlockFactory
{
    /// <summary>C -> C, stride 1 (the stream blocks).</summary>
    nn.Module<Tensor, Tensor> StreamBlock(int channels, ActivationKind activation, bool useSse);

    /// <summary>Cin -> Cout, stride 1 or 2, groups 1 or 2 (stem, stream entries, merge convs, wide block).</summary>
    nn.Module<Tensor, Tensor> DownsamplingBlock(int inChannels, int outChannels, int stride, int groups, ActivationKind activation);

    /// <summary>The CIFAR layout's narrow 1x1 conv at depth 11.</summary>
    nn.Module<Tensor, Tensor> FinalConv(int inChannels, int outChannels, ActivationKind activation);
}
