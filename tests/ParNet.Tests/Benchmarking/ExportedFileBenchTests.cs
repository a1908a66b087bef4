using System.Text.Json;
using ParNet.Cli;
using ParNet.Export;
using ParNet.Fusion;
using ParNet.Models;
using ParNet.Tests.Cli;
using ParNet.Tests.Export;

namespace ParNet.Tests.Benchmarking;

/// <summary>bench's onnx-file row of our own exports (an export audit of session 48): the model and side came only from
/// --weights, so a file of another model than the default was refused without --model; and a graph of one fixed batch was
/// timed at batch 1, then ended the process at the second batch, its timings lost.</summary>
public class ExportedFileBenchTests
{
    static readonly ModelConfig Small = ModelRegistry.Get("parnet_cifar_small") with { Planes = [8, 16, 32], FinalWidth = 32, BlocksPerStream = [1, 1, 1] };

    static string ExportSmall(ExportTempFolder folder, string name, int side, bool dynamicBatch = true)
    {
        using var trained = ModelFactory.Create(Small);
        using var fused = ParNetFuser.Fuse(trained);
        string path = folder.File(name);
        OnnxExporter.Export(fused, path, side, new OnnxExportOptions { DynamicBatch = dynamicBatch });
        return path;
    }

    static (int Code, string Out, string Err) Bench(string onnx, string output, int batch = 2)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = CommandRunner.Run(["bench", "--onnx-model", onnx, "--only", "onnx-file", "--rounds", "1", "--throughput-rounds", "1",
                                      "--warmup", "0", "--batch-size", $"{batch}", "--threads", "1", "--out", output], stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void An_exported_file_alone_is_timed_as_the_model_and_side_it_stores()
    {
        using var folder = new ExportTempFolder();
        string onnx = ExportSmall(folder, "small64.onnx", 64);
        var (code, _, stderr) = Bench(onnx, folder.File("out"));
        Assert.True(code == 0, stderr);
        var report = JsonDocument.Parse(File.ReadAllText(folder.File("out/bench.json"))).RootElement;
        Assert.Equal(64, report.GetProperty("image_size").GetInt32());   // the default model's side is 224, Small's 32
        using var trained = ModelFactory.Create(Small);
        using var fused = ParNetFuser.Fuse(trained);   // the network stored, not the default parnet_s
        Assert.Equal(2.0 * fused.Trace(64, 64).MultiplyAdds() / 1e9, report.GetProperty("results")[0].GetProperty("gflop_per_image").GetDouble(), 12);
    }

    [Fact]
    public void A_graph_of_one_fixed_batch_is_refused_before_timing_unless_the_batch_is_one()
    {
        using var folder = new ExportTempFolder();
        string onnx = ExportSmall(folder, "fixed.onnx", 32, dynamicBatch: false);
        var refused = Bench(onnx, folder.File("refused"));
        CliRunner.AssertUserError(refused, $"--onnx-model {onnx} takes batches of exactly 1 image (exported without a dynamic batch axis); " +
                                           "the benchmark times batch 1, then batch 2 (give --batch-size 1)");
        Assert.False(Directory.Exists(folder.File("refused")));
        var (code, _, stderr) = Bench(onnx, folder.File("timed"), batch: 1);
        Assert.True(code == 0, stderr);
        Assert.Equal(1, JsonDocument.Parse(File.ReadAllText(folder.File("timed/bench.json"))).RootElement.GetProperty("batch").GetInt32());
    }
}
