using TorchSharp.Modules;
using ParNet.Models.Blocks;
using static TorchSharp.torch;
using ParNet.Models.Tracing;

namespace ParNet.Models;

/// <summary>
/// A plain ResNet of basic blocks, one stage per entry of Planes: the paper's depth-12 baseline
/// (Table 8, ResNet12-Wide: stem + 5 basic blocks + classifier = 12 layers on the longest path).
/// ImageNet layout: 7x7 stride-2 stem and 3x3 max-pool; CIFAR layout: 3x3 stride-1 stem.
/// </summary>
public sealed class ResNetModel : ImageClassifier
{
    private readonly ConvBnAct stem;
    private readonly Sequential layers;
    private readonly ClassifierHead head;

    protected override ClassifierHead Head => head;

    public ResNetModel(ModelConfig config) : base(nameof(ResNetModel), config.Validate())
    {
        if (config.BlockType != BlockType.ResNetBasic) throw new ArgumentException($"{config.Name}: ResNetModel builds ResNetBasic networks");
        bool imagenet = config.Layout == Layout.ImageNet;
        stem = new ConvBnAct(config.InChannels, config.Planes[0], kernel: imagenet ? 7 : 3, stride: imagenet ? 2 : 1, config.Activation);
        var blocks = new List<nn.Module<Tensor, Tensor>>();
        int width = config.Planes[0];
        for (int stage = 0; stage < config.Planes.Length; stage++)
            for (int b = 0; b < config.BlocksPerStream[stage]; b++)
            {
                int stride = stage > 0 && b == 0 ? 2 : 1;
                blocks.Add(new BasicResidualBlock(width, config.Planes[stage], stride, config.Activation));
                width = config.Planes[stage];
            }
        layers = nn.Sequential(blocks);
        head = new ClassifierHead(width, config.NumClasses, config.HeadDropout);
        RegisterComponents();
        FeatureInfo = StageEnds(config);
    }

    public override IReadOnlyList<string> StemKeyPrefixes { get; } = ["stem."];
    public override IReadOnlyList<string> StreamKeyPrefixes { get; } = [];

    protected override Tensor Features(Tensor x)
    {
        x = stem.call(x);
        if (Config.Layout == Layout.ImageNet) x = nn.functional.max_pool2d(x, 3, stride: 2, padding: 1);
        return layers.call(x);
    }

    /// <summary>Each stage's last block, strides 4, 8, 16, 32 in the ImageNet layout (1, 2, 4, 8 in the CIFAR one).</summary>
    public override IReadOnlyList<FeatureInfo> FeatureInfo { get; }

    static List<FeatureInfo> StageEnds(ModelConfig config)
    {
        int stride = config.Layout == Layout.ImageNet ? 4 : 1, block = 0;
        var levels = new List<FeatureInfo>();
        for (int stage = 0; stage < config.Planes.Length; stage++, stride *= 2)
        {
            block += config.BlocksPerStream[stage];
            levels.Add(new FeatureInfo(config.Planes[stage], stride, $"layers.{block - 1}"));
        }
        return levels;
    }

    protected override IReadOnlyList<Tensor> Intermediates(Tensor x)
    {
        x = stem.call(x);
        if (Config.Layout == Layout.ImageNet) x = nn.functional.max_pool2d(x, 3, stride: 2, padding: 1);
        var ends = FeatureInfo.Select(f => f.Module).ToHashSet();
        var outputs = new List<Tensor>();
        int i = 0;
        foreach (var block in layers.children().Cast<nn.Module<Tensor, Tensor>>())
        {
            x = block.call(x);
            if (ends.Contains($"layers.{i++}")) outputs.Add(x);
        }
        return outputs;
    }

    public override LayerGraph Trace(int height, int width)
    {
        CheckImageSize(height, width);
        var g = new LayerGraph();
        var x = g.Stage("stem", stem.Trace(g, "stem.", g.Input(Config.InChannels, height, width)));
        if (Config.Layout == Layout.ImageNet) x = g.MaxPool3x3Stride2(x);
        x = g.Stage("layers", ParNetModel.TraceSequence(g, "layers.", layers, x));
        g.Stage("head", head.Trace(g, "head.", x));
        return g;
    }
}
