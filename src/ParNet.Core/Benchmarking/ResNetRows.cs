using ParNet.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace ParNet.Benchmarking;

/// <summary>TorchVision's ResNets as reference rows of <see cref="InferenceBenchmark"/>, and the settings that could
/// explain TorchSharp being slower than PyTorch on them (<c>--investigate</c>).</summary>
static class ResNetRows
{
    public static readonly IReadOnlyList<string> Keys = ["resnet18", "resnet34", "resnet50"];

    /// <summary>Multiply-adds of TorchVision's ResNets at 224x224 (torchvision's model table; scale with area).</summary>
    static readonly Dictionary<string, double> GMacs224 = new() { ["resnet18"] = 1.814, ["resnet34"] = 3.664, ["resnet50"] = 4.089 };

    public static double Gflop(string name, int size) => 2 * GMacs224[name] * size * size / (224.0 * 224.0);

    public static nn.Module<Tensor, Tensor> Create(string name)
    {
        nn.Module<Tensor, Tensor> model = name switch
        {
            "resnet18" => torchvision.models.resnet18(),
            "resnet34" => torchvision.models.resnet34(),
            "resnet50" => torchvision.models.resnet50(),
            _ => throw new ArgumentException($"unknown ResNet {name}"),
        };
        model.eval();
        return model;
    }

    /// <summary>
    /// ResNet-18 under no_grad instead of inference_mode, with channels_last activations (oneDNN's native NHWC path, no
    /// reorders), with channels_last weights too, and on one intra-op thread. Timed one row after another (the one-thread
    /// row cannot share rounds with the others), each by <paramref name="timeAlone"/>.
    /// </summary>
    public static IEnumerable<BenchmarkResult> Investigate(InferenceBenchmarkOptions o, Func<BenchmarkRow, BenchmarkResult> timeAlone)
    {
        using var resnet = Create("resnet18");
        double gflop = Gflop("resnet18", o.ImageSize);
        BenchmarkRow Row(string key, string name, bool inferenceMode = true, bool channelsLast = false) =>
            new(key, name, "TorchSharp", gflop, batch => RowRunners.Torch(batch, o, ScalarType.Float32, x => resnet.call(x), inferenceMode, channelsLast));
        var results = new List<BenchmarkResult>
        {
            timeAlone(Row("resnet18-nograd", "TorchVision resnet18, no_grad (not inference_mode)", inferenceMode: false)),
            timeAlone(Row("resnet18-channels-last", "TorchVision resnet18, channels_last input", channelsLast: true)),
        };
        MemoryFormat.ToChannelsLast(resnet);
        results.Add(timeAlone(Row("resnet18-channels-last-weights", "TorchVision resnet18, channels_last input and weights", channelsLast: true)));
        set_num_threads(1);
        try { results.Add(timeAlone(Row("resnet18-1thread", "TorchVision resnet18, 1 thread"))); }
        finally { set_num_threads(o.Threads); }
        return results;
    }
}
