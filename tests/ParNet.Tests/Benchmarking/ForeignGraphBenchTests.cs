using System.Text.Json;
using Onnx;
using ParNet.Cli;
using ParNet.Export;
using ParNet.Fusion;
using ParNet.Models;
using ParNet.Tests.Export;

namespace ParNet.Tests.Benchmarking;

/// <summary>bench's onnx-file row of a graph that stores no form (another tool's export) was credited with the benchmark
/// model's fused GFLOP (note 41): the authors' unfused graph read as doing the fused network's work, its GFLOP/s too low.
/// Its GFLOP are counted from the graph's own layers now.</summary>
public class ForeignGraphBenchTests
{
    static readonly ModelConfig Small = ModelRegistry.Get("parnet_cifar_small") with { Planes = [8, 16, 32], FinalWidth = 32, BlocksPerStream = [1, 1, 1] };

    [Fact]
    public void A_graph_that_stores_no_form_is_credited_with_the_multiply_adds_of_its_own_layers()
    {
        using var folder = new ExportTempFolder();
        string config = folder.File("small.json"), foreign = folder.File("another-tool.onnx");
        File.WriteAllText(config, Small.ToJson());
        using var trained = ModelFactory.Create(Small);
        using var fused = ParNetFuser.Fuse(trained);
        trained.eval();
        OnnxExporter.Export(trained, foreign, 32);   // the training form, its metadata then dropped: as another tool writes it
        ModelProto graph;
        using (var file = File.OpenRead(foreign)) graph = ModelProto.Parser.ParseFrom(file);
        graph.MetadataProps.Clear();
        OnnxExporter.Write(graph, foreign);

        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = CommandRunner.Run(["bench", "--config", config, "--only", "fused,onnx-file", "--onnx-model", foreign, "--rounds", "1",
                                      "--throughput-rounds", "1", "--warmup", "0", "--batch", "2", "--out", folder.File("out")], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        var rows = JsonDocument.Parse(File.ReadAllText(folder.File("out/bench.json"))).RootElement.GetProperty("results").EnumerateArray()
            .ToDictionary(r => r.GetProperty("key").GetString()!);
        double unfused = 2.0 * trained.Trace(32, 32).MultiplyAdds() / 1e9, fusedCount = 2.0 * fused.Trace(32, 32).MultiplyAdds() / 1e9;
        Assert.True(unfused > fusedCount * 1.05, $"unfused {unfused} and fused {fusedCount} GFLOP: too close for this test to tell them apart");
        Assert.Equal(fusedCount, rows["fused"].GetProperty("gflop_per_image").GetDouble(), 12);
        Assert.Equal(unfused, rows["onnx-file"].GetProperty("gflop_per_image").GetDouble(), 12);
        Assert.EndsWith("form not stored, GFLOP counted from its graph", rows["onnx-file"].GetProperty("note").GetString());
    }
}
