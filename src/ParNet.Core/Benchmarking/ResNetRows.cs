using ParNet.Models;
using ParNet.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace ParNet.Benchmarking;

/// <summary>TorchVision's ResNets as reference rows of <see cref="InferenceBenchmark"/>, built for the benchmarked
/// model's input channels and classes (torchvision's take 3 channels and give 1000 classes), and the settings that could
/// explain TorchSharp being slower than PyTorch on them (<c>--investigate</c>).</summary>
public static class ResNetRows
{
    public static readonly IReadOnlyList<string> Keys = ["resnet18", "resnet34", "resnet50"];

    /// <summary>Whether the row <paramref name="key"/> is a ResNet, ours (<see cref="Keys"/>) or PyTorch's (pytorch-KEY).</summary>
    public static bool IsBaseline(string key) => Keys.Any(k => key == k || key == "pytorch-" + k);

    /// <summary>Multiply-adds of TorchVision's ResNets at 224x224, 3 channels in, 1000 classes out (torchvision's model
    /// table; scale with area).</summary>
    static readonly Dictionary<string, double> GMacs224 = new() { ["resnet18"] = 1.814, ["resnet34"] = 3.664, ["resnet50"] = 4.089 };

    /// <summary>Features into the classifier (512 x the block's expansion).</summary>
    static readonly Dictionary<string, int> FcInputs = new() { ["resnet18"] = 512, ["resnet34"] = 512, ["resnet50"] = 2048 };

    /// <summary>Output channels of the stem: a 7x7 stride-2 convolution, padding 3, no bias.</summary>
    const int StemWidth = 64;

    /// <summary>The children of torchvision's ResNet in the order its forward runs them.</summary>
    static readonly string[] ForwardOrder = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "flatten", "fc"];

    /// <summary>2 x multiply-adds per image of ResNet <paramref name="name"/> as <see cref="Create"/> builds it for
    /// <paramref name="model"/>: torchvision's table, corrected for the stem's input channels and the classifier's classes.</summary>
    public static double Gflop(string name, int size, ModelConfig model)
    {
        long stemSide = (size - 1) / 2 + 1;
        double stem = (double)StemWidth * 7 * 7 * (model.InChannels - 3) * stemSide * stemSide;
        double classifier = (double)FcInputs[name] * (model.NumClasses - 1000);
        return 2 * (GMacs224[name] * size * size / (224.0 * 224.0) + (stem + classifier) / 1e9);
    }

    /// <summary>What the ResNet rows are, for the report.</summary>
    public static string Describe(ModelConfig model) =>
        $"ResNet baselines: torchvision's architectures built for {model.Name}'s input and output, {model.InChannels} input channel(s) " +
        $"(stem conv 7x7 {model.InChannels}->{StemWidth}) and {model.NumClasses} classes (torchvision's: 3 and 1000), randomly initialized; " +
        "GFLOP from torchvision's table, corrected for both";

    /// <summary>TorchVision's ResNet <paramref name="name"/> in eval mode for <paramref name="model"/>'s input channels and
    /// classes: where those are not 3, its stem convolution takes them (as `resnet.conv1 = nn.Conv2d(C, 64, 7, 2, 3,
    /// bias=False)` in PyTorch), the rest is torchvision's.</summary>
    public static nn.Module<Tensor, Tensor> Create(string name, ModelConfig model)
    {
        var resnet = name switch
        {
            "resnet18" => torchvision.models.resnet18(num_classes: model.NumClasses),
            "resnet34" => torchvision.models.resnet34(num_classes: model.NumClasses),
            "resnet50" => torchvision.models.resnet50(num_classes: model.NumClasses),
            _ => throw new ArgumentException($"unknown ResNet {name}"),
        };
        var built = model.InChannels == 3 ? resnet : WithStemFor(resnet, model.InChannels);
        built.eval();
        return built;
    }

    /// <summary>The ResNet's modules in a Sequential, its stem convolution replaced by one taking
    /// <paramref name="channels"/> (TorchSharp's ResNet fixes 3 in a private field). Its weights are the default
    /// initialization: timings do not depend on them.</summary>
    static nn.Module<Tensor, Tensor> WithStemFor(TorchSharp.Modules.ResNet resnet, int channels)
    {
        var children = resnet.named_children().ToDictionary(c => c.name, c => (nn.Module<Tensor, Tensor>)c.module);
        if (!children.Keys.ToHashSet().SetEquals(ForwardOrder))
            throw new InvalidOperationException($"TorchSharp's ResNet has the modules {string.Join(", ", children.Keys)}; expected {string.Join(", ", ForwardOrder)}");
        children["conv1"].Dispose();
        children["conv1"] = nn.Conv2d(channels, StemWidth, kernel_size: 7, stride: 2, padding: 3, bias: false);
        return nn.Sequential(ForwardOrder.Select(n => (n, children[n])));
    }

    /// <summary>
    /// ResNet-18 under no_grad instead of inference_mode, with channels_last activations (oneDNN's native NHWC path, no
    /// reorders), with channels_last weights too, and on one intra-op thread (not where the run has one already: it
    /// repeated the resnet18 row). Rows of the same interleaved rounds as the others: timed alone after them, the same
    /// model read 1.7x apart from the resnet18 row beside it (bench audit). The one-thread row sets the count around each
    /// of its runs and puts the run's back.
    /// </summary>
    internal static List<BenchmarkRow> Investigation(InferenceBenchmarkOptions o, Disposables owned)
    {
        var resnet = owned.Add(Create("resnet18", o.Model));
        var nhwc = owned.Add(Create("resnet18", o.Model));
        MemoryFormat.ToChannelsLast(nhwc);
        double gflop = Gflop("resnet18", o.ImageSize, o.Model);
        BenchmarkRow Row(string key, string name, nn.Module<Tensor, Tensor> model, bool inferenceMode = true, bool channelsLast = false, int? threads = null) =>
            new(key, name, "TorchSharp", gflop, batch =>
            {
                var (run, owner) = RowRunners.Torch(batch, o, ScalarType.Float32, x => model.call(x), inferenceMode, channelsLast);
                if (threads is not int t) return (run, owner);
                return (() =>
                {
                    set_num_threads(t);
                    try { return run(); }
                    finally { set_num_threads(o.Threads); }
                }, owner);
            }, threads is int n ? $"set_num_threads({n}) around its runs" : null);
        var rows = new List<BenchmarkRow>
        {
            Row("resnet18-nograd", "TorchVision resnet18, no_grad (not inference_mode)", resnet, inferenceMode: false),
            Row("resnet18-channels-last", "TorchVision resnet18, channels_last input", resnet, channelsLast: true),
            Row("resnet18-channels-last-weights", "TorchVision resnet18, channels_last input and weights", nhwc, channelsLast: true),
        };
        if (o.Threads > 1) rows.Add(Row("resnet18-1thread", "TorchVision resnet18, 1 thread", resnet, threads: 1));
        return rows;
    }
}
