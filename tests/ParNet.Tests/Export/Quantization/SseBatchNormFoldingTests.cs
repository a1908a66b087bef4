using Google.Protobuf;
using Onnx;
using TorchSharp.PyBridge;
using ParNet.Export;
using ParNet.Export.Quantization;
using ParNet.Inference;
using ParNet.Tests.Models;
using static TorchSharp.torch;

namespace ParNet.Tests.Export.Quantization;

/// <summary>The int8 export's float rewrite of the SSE branches: the same function, checked against the authors' logits.</summary>
public class SseBatchNormFoldingTests
{
    /// <summary>Every ParNet layout of the export tests (the ResNet ones do not fuse); cifar_grey and relu3 beside the fused-export test's.</summary>
    [Theory]
    [InlineData("cifar")]
    [InlineData("cifar_grey")]
    [InlineData("streams1")]
    [InlineData("streams2")]
    [InlineData("streams4")]
    [InlineData("no_sse")]
    [InlineData("relu3")]
    public void Every_layout_folds_to_the_fused_models_function_with_randomized_statistics(string name)
    {
        var (config, size) = OnnxExportTests.Network(name);
        using var trained = ParNet.Models.ModelFactory.Create(config);
        ExportTestSupport.Randomize(trained, seed: 21);
        trained.eval();
        using var fused = ParNet.Fusion.ParNetFuser.Fuse(trained);
        fused.eval();
        var plain = OnnxExporter.BuildModel(fused, size, size);
        var folded = SseBatchNormFolding.Apply(plain);
        // one BatchNormalization folded per SSE stream block, none without SSE (no_sse)
        int sseBlocks = fused.modules().OfType<ParNet.Fusion.FusedStreamBlock>().Count(b => b.Identity is not null);
        Assert.Equal(plain.Graph.Node.Count(n => n.OpType == "BatchNormalization") - sseBlocks, folded.Graph.Node.Count(n => n.OpType == "BatchNormalization"));

        manual_seed(5);
        var x = randn(2, config.InChannels, size, size);
        using var engine = new OnnxRuntimeEngine(folded.ToByteArray());
        var expected = fused.call(x);
        ExportTestSupport.AssertMeaningful(expected);
        double err = ExportTestSupport.RelativeL2(engine.Run(x), expected);
        Assert.True(err < 1e-5, $"{name}: relative L2 {err:E2}");
    }

    [Fact]
    public void The_folded_graph_reproduces_the_authors_logits_and_no_full_size_batch_norm_is_left_in_a_gate()
    {
        using var trained = OfficialParityTests.TrainedTinyModel();
        using var fused = ParNet.Fusion.ParNetFuser.Fuse(trained);
        fused.eval();
        var plain = OnnxExporter.BuildModel(fused, 64, 64);
        var folded = SseBatchNormFolding.Apply(plain);

        // every stream block's SSE branch had a BatchNormalization read by a pooling and a Mul; none is left
        int Count(ModelProto m, string op) => m.Graph.Node.Count(n => n.OpType == op);
        var streamBlocks = plain.Graph.Node.Count(n => n.OpType == "BatchNormalization" && n.Name.Contains("rbr_identity", StringComparison.Ordinal));
        Assert.True(streamBlocks > 0, "the tiny model has SSE stream blocks");
        Assert.Equal(Count(plain, "BatchNormalization") - streamBlocks, Count(folded, "BatchNormalization"));
        var producers = folded.Graph.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n);
        Assert.All(folded.Graph.Node.Where(n => n.OpType == "GlobalAveragePool"),
            n => Assert.NotEqual("BatchNormalization", producers.GetValueOrDefault(n.Input[0])?.OpType));
        Assert.Equal(Count(plain, "GlobalAveragePool"), Count(folded, "GlobalAveragePool"));
        // the folded BNs' four parameter tensors are gone, two per-channel vectors came instead
        Assert.Equal(plain.Graph.Initializer.Count - 2 * streamBlocks, folded.Graph.Initializer.Count);

        var io = Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"));
        using var engine = new OnnxRuntimeEngine(folded.ToByteArray());
        var logits = engine.Run(io["input"]);
        Assert.True(ExportTestSupport.RelativeL2(logits, io["logits"]) < 1e-5, $"relative L2 {ExportTestSupport.RelativeL2(logits, io["logits"]):E2}");
    }
}
