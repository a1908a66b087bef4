using System.Text.Json;
using ParNet.Benchmarking;
using ParNet.Cli;
using ParNet.Models;
using ParNet.Tests.Export;
using static TorchSharp.torch;

namespace ParNet.Tests.Benchmarking;

/// <summary>The ResNet rows of `parnet bench` take the benchmarked model's input (a 1-channel Fashion-MNIST model
/// crashed them), and bench refuses an --out it cannot write before timing anything.</summary>
public class ResNetBaselineTests
{
    /// <summary>A Fashion-MNIST-shaped ParNet small enough to time in a test: 1 input channel, 10 classes.</summary>
    static ModelConfig OneChannelModel => ModelRegistry.Get("parnet_cifar_small") with
    {
        Planes = [8, 16, 32], FinalWidth = 32, BlocksPerStream = [1, 1, 1], InChannels = 1, NumClasses = 10,
    };

    [Fact]
    public void Resnet_baseline_takes_the_models_input_channels_and_gives_its_classes()
    {
        using var resnet = ResNetRows.Create("resnet18", OneChannelModel);
        using var torchvisions = ResNetRows.Create("resnet18", OneChannelModel with { InChannels = 3, NumClasses = 1000 });
        Assert.Equal([64L, 1, 7, 7], resnet.parameters().First().shape);   // the stem conv, first as in torchvision
        Assert.Equal([64L, 3, 7, 7], torchvisions.parameters().First().shape);
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        Assert.Equal([2L, 10], resnet.call(randn(2, 1, 32, 32)).shape);
        Assert.Equal([1L, 1000], torchvisions.call(randn(1, 3, 32, 32)).shape);
    }

    [Fact]
    public void Resnet_gflop_counts_the_stem_for_the_models_channels_and_the_classifier_for_its_classes()
    {
        var torchvisions = OneChannelModel with { InChannels = 3, NumClasses = 1000 };
        // stem: 64 filters of 7x7 at 112x112 per input channel; classifier: 2048 features (ResNet-50) per class
        Assert.Equal(2 * 2 * 64 * 49 * 112 * 112 / 1e9,
                     ResNetRows.Gflop("resnet18", 224, torchvisions) - ResNetRows.Gflop("resnet18", 224, torchvisions with { InChannels = 1 }), 9);
        Assert.Equal(2 * 2048 * 990 / 1e9,
                     ResNetRows.Gflop("resnet50", 224, torchvisions) - ResNetRows.Gflop("resnet50", 224, torchvisions with { NumClasses = 10 }), 9);
    }

    [Fact]
    public void Bench_times_the_resnet_baseline_beside_a_one_channel_model_and_says_what_it_was()
    {
        using var folder = new ExportTempFolder();
        string config = WriteConfig(folder);
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = CommandRunner.Run(["bench", "--config", config, "--only", "unfused,resnet18", "--image-size", "32", "--rounds", "1",
            "--throughput-rounds", "1", "--warmup", "0", "--batch", "1", "--threads", "1", "--out", folder.File("out")], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        var json = JsonDocument.Parse(File.ReadAllText(folder.File("out/bench.json"))).RootElement;
        Assert.Equal(["unfused", "resnet18"], json.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("key").GetString()));
        string baseline = Assert.Single(json.GetProperty("notes").EnumerateArray().Select(n => n.GetString()!), n => n.StartsWith("ResNet baselines"));
        Assert.Contains("1 input channel(s) (stem conv 7x7 1->64) and 10 classes", baseline);
        Assert.Contains(baseline, File.ReadAllText(folder.File("out/bench.md")));
    }

    [Fact]
    public void Bench_refuses_an_out_under_a_regular_file_before_timing_anything()
    {
        using var folder = new ExportTempFolder();
        string file = folder.File("a-file");
        File.WriteAllText(file, "not a folder");
        string output = Path.Combine(file, "bench");
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = CommandRunner.Run(["bench", "--config", WriteConfig(folder), "--only", "unfused", "--out", output], stdout, stderr);
        Assert.Equal(2, code);
        string error = Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"parnet bench: --out {output}: cannot write there", error);   // the only line: no progress, nothing timed
        Assert.True(File.Exists(file) && !Directory.Exists(output));
    }

    [Fact]
    public void A_benchmark_that_fails_leaves_no_out_folder_it_made()
    {
        using var folder = new ExportTempFolder();
        string garbage = folder.File("garbage.onnx"), output = folder.File("out");
        File.WriteAllText(garbage, "not an onnx model");
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = CommandRunner.Run(["bench", "--config", WriteConfig(folder), "--only", "onnx-int8", "--onnx-model", garbage,
                                      "--rounds", "1", "--out", output], stdout, stderr);
        Assert.NotEqual(0, code);
        Assert.Contains("ONNX Runtime cannot load it", stderr.ToString());
        Assert.False(Directory.Exists(output), "the empty --out folder stayed after the failed run");
    }

    static string WriteConfig(ExportTempFolder folder)
    {
        string config = folder.File("model.json");
        File.WriteAllText(config, OneChannelModel.ToJson());
        return config;
    }
}
