using TorchSharp;
using TorchSharp.Modules;
using ParNet.Models.Blocks;
using static TorchSharp.torch;
using ParNet.Models.Tracing;

namespace ParNet.Models;

/// <summary>
/// ParNet (the released code's SimpNet), ImageNet or CIFAR layout, 1-4 streams. For 3 streams:
///   inits.0 (stem) -> inits.1 -> inits.2          one entry per stream, each halving the size
///   streams.i: blocks on inits.i's output           independent: can run in parallel
///   downsamples_2.0(stream 0) -> downsamples_2.1(stream 1, .) -> combine(stream 2, .)   merging (the paper's fusion)
///   head: pool, dropout, linear
/// Fields are named as the released state-dict keys.
/// </summary>
public sealed class ParNetModel : ImageClassifier
{
    private readonly ModuleList<nn.Module<Tensor, Tensor>> inits;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> streams;
    private readonly ModuleList<nn.Module> downsamples_2;
    private readonly StreamMergeStage combine;
    private readonly ClassifierHead head;

    protected override ClassifierHead Head => head;

    public ParNetModel(ModelConfig config) : this(config, TrainingBlocks.Instance) { }

    /// <summary>The same network assembled from other blocks (the fused inference form: ParNet.Fusion).</summary>
    public ParNetModel(ModelConfig config, IParNetBlockFactory blocks) : base(nameof(ParNetModel), config.Validate())
    {
        BlockFactory = blocks;
        if (config.BlockType != BlockType.RepVggSse) throw new ArgumentException($"{config.Name}: ParNetModel builds RepVggSse networks; use ModelFactory");
        int[] p = config.Planes;
        int s = config.Streams;
        var act = config.Activation;
        double drop = config.BlockDropout;
        WrappedBlock Wrap(nn.Module<Tensor, Tensor> block) => new(block, drop);
        WrappedBlock Down(int cin, int cout, int stride, int groups = 1) => Wrap(blocks.DownsamplingBlock(cin, cout, stride, groups, act));

        int stemWidth = Math.Min(64, p[0]);
        var stem = config.Layout == Layout.ImageNet
            ? nn.Sequential(Down(config.InChannels, stemWidth, 2), Down(stemWidth, p[0], 2))
            : nn.Sequential(Down(config.InChannels, stemWidth, 1), Down(stemWidth, p[0], 1), Down(p[0], p[0], 2));
        inits = nn.ModuleList<nn.Module<Tensor, Tensor>>([stem, .. Enumerable.Range(1, s - 1).Select(i => Down(p[i - 1], p[i], 2))]);

        streams = nn.ModuleList<nn.Module<Tensor, Tensor>>(Enumerable.Range(0, s).Select(i => config.BlocksPerStream[i] == 0
            ? (nn.Module<Tensor, Tensor>)nn.Identity()
            : nn.Sequential(Enumerable.Range(0, config.BlocksPerStream[i]).Select(_ => Wrap(blocks.StreamBlock(p[i], act, config.UseSse))))).ToArray());

        StreamMergeStage Merge(int width, int outWidth, int stride, nn.Module<Tensor, Tensor>? next) =>
            new(new StreamMergeInputs(width), Down(2 * width, outWidth, stride, groups: 2), next);
        downsamples_2 = nn.ModuleList<nn.Module>(Enumerable.Range(0, Math.Max(0, s - 1))
            .Select(i => i == 0 ? (nn.Module)Down(p[0], p[1], 2) : Merge(p[i], p[i + 1], 2, null)).ToArray());

        int last = p[s - 1];
        nn.Module<Tensor, Tensor> final = config.Layout == Layout.ImageNet
            ? Down(last, config.FinalWidth, 2)
            : Wrap(blocks.FinalConv(last, config.FinalWidth, act));
        combine = s == 1 ? new StreamMergeStage(null, null, final) : Merge(last, last, 1, final);

        head = new ClassifierHead(config.FinalWidth, config.NumClasses, config.HeadDropout);
        RegisterComponents();
        _featureInfo = new(TraceFeatureInfo);
    }

    public int Streams => Config.Streams;

    /// <summary>What the blocks were made by: <see cref="TrainingBlocks"/> unless built fused.</summary>
    public IParNetBlockFactory BlockFactory { get; }

    protected override Tensor Features(Tensor x)
    {
        var streamInputs = StreamInputs(x);
        var streamOutputs = streamInputs.Select((input, i) => RunStream(i, input)).ToArray();
        return MergeStreams(streamOutputs);
    }

    /// <summary>Each stream's output (strides 4, 8, 16 in the ImageNet layout), then the merged map (32).</summary>
    public override IReadOnlyList<FeatureInfo> FeatureInfo => _featureInfo.Value;

    readonly Lazy<IReadOnlyList<FeatureInfo>> _featureInfo;

    IReadOnlyList<FeatureInfo> TraceFeatureInfo()
    {
        // the natural size rounded up to one the network takes (224 is no multiple of 64: four ImageNet streams)
        int multiple = Config.InputSizeMultiple;
        int side = (Config.DefaultImageSize + multiple - 1) / multiple * multiple;
        var stages = Trace(side, side).Stages.ToDictionary(s => s.Stage, s => s.Node.Shape);
        var levels = Enumerable.Range(0, Streams).Select(i => $"streams.{i}").Append("combine");
        return levels.Select(name => new FeatureInfo((int)stages[name][0], side / (int)stages[name][1], name)).ToList();
    }

    protected override IReadOnlyList<Tensor> Intermediates(Tensor x)
    {
        var streamOutputs = StreamInputs(x).Select((input, i) => RunStream(i, input)).ToArray();
        return [.. streamOutputs, MergeStreams(streamOutputs)];
    }

    public override IReadOnlyList<string> StemKeyPrefixes { get; } = ["inits.0."];
    public override IReadOnlyList<string> StreamKeyPrefixes { get; } = ["inits.", "streams."];

    /// <summary>inits: the stem, then one downsampling block per further stream; entry i feeds stream i.</summary>
    public Tensor[] StreamInputs(Tensor x)
    {
        var inputs = new Tensor[Streams];
        for (int i = 0; i < Streams; i++) x = inputs[i] = RunInit(i, x);
        return inputs;
    }

    public Tensor RunInit(int i, Tensor x) => inits[i].call(x);

    /// <summary>The blocks of stream i; streams share nothing, so they may run concurrently.</summary>
    public Tensor RunStream(int i, Tensor x) => streams[i].call(x);

    /// <summary>Places stream i's parameters and buffers on <paramref name="device"/> (one device per stream, Table 3).</summary>
    public void MoveStream(int i, Device device) => streams[i].to(device);

    /// <summary>downsamples_2 and combine: stream 0 is downsampled, each later stream merged with the path (the paper's fusion blocks).</summary>
    public Tensor MergeStreams(IReadOnlyList<Tensor> streamOutputs)
    {
        Tensor? path = null;
        for (int i = 0; i < Streams - 1; i++)
            path = i == 0
                ? ((nn.Module<Tensor, Tensor>)downsamples_2[0]).call(streamOutputs[0])
                : ((StreamMergeStage)downsamples_2[i]).call(streamOutputs[i], path);
        return combine.call(streamOutputs[Streams - 1], path);
    }

    public override LayerGraph Trace(int height, int width)
    {
        CheckImageSize(height, width);
        var g = new LayerGraph();
        GraphNode x = g.Input(Config.InChannels, height, width);
        var outputs = new GraphNode[Streams];
        for (int i = 0; i < Streams; i++)
        {
            x = g.Stage($"inits.{i}", TraceSequence(g, $"inits.{i}.", inits[i], x));
            outputs[i] = g.Stage($"streams.{i}", TraceSequence(g, $"streams.{i}.", streams[i], x));
        }
        GraphNode? path = null;
        for (int i = 0; i < Streams - 1; i++)
            path = g.Stage($"downsamples_2.{i}", i == 0
                ? ((ITraceable)downsamples_2[0]).Trace(g, "downsamples_2.0.", outputs[0])
                : ((StreamMergeStage)downsamples_2[i]).Trace(g, $"downsamples_2.{i}.", outputs[i], path));
        var features = g.Stage("combine", combine.Trace(g, "combine.", outputs[Streams - 1], path));
        g.Stage("head", head.Trace(g, "head.", features));
        return g;
    }

    /// <summary>Traces a Sequential child by child (keys prefix.0., prefix.1., ...), or a single block.</summary>
    internal static GraphNode TraceSequence(LayerGraph g, string prefix, nn.Module module, GraphNode x) => module switch
    {
        Sequential seq => seq.children().Select((child, i) => (child, i))
            .Aggregate(x, (h, c) => ((ITraceable)c.child).Trace(g, $"{prefix}{c.i}.", h)),
        ITraceable block => block.Trace(g, prefix, x),
        _ => x,   // Identity: a stream with no blocks
    };
}
