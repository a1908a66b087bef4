using Google.Protobuf;
using Onnx;
using ParNet.Export;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Tests.Models;
using static TorchSharp.torch;

namespace ParNet.Tests.Export;

/// <summary>
/// The graphs that scripts/gpu-pack.sh carries to a GPU machine without their weights: small, refilled the same way on every
/// read and in every part, so that there the stream sessions' logits still equal the whole graph's (the check the GPU run
/// reports), and with the BatchNormalization statistics and constants as exported (a random variance would be negative).
/// </summary>
public class WeightlessOnnxTests
{
    [Fact]
    public void Refilled_parts_compute_what_the_refilled_whole_computes_and_only_conv_and_gemm_weights_are_dropped()
    {
        var config = ParNet.Studies.StudyCatalog.ParNet("s3", 16, 3) with { InChannels = 3 };
        manual_seed(5);
        using var model = new ParNetModel(config);
        model.eval();
        var whole = OnnxExporter.BuildModel(model, 32, 32);
        using var folder = new ExportTempFolder();
        string prefix = folder.File("tiny");
        WeightlessOnnx.Write(prefix, whole, OnnxExporter.BuildStreamPartition(model, 32, 32));

        long written = Directory.GetFiles(Path.GetDirectoryName(prefix)!, "tiny.*").Sum(f => new FileInfo(f).Length);
        Assert.True(written < whole.CalculateSize() / 4, $"{written} bytes written for a {whole.CalculateSize()}-byte export");

        var (read, partition) = WeightlessOnnx.Read(prefix);
        var original = whole.Graph.Initializer.ToDictionary(t => t.Name);
        foreach (var t in read.Graph.Initializer)
        {
            Assert.Equal(original[t.Name].Dims, t.Dims);
            bool refilled = t.DataType == (int)TensorProto.Types.DataType.Float && t.Dims.Count >= 2;
            Assert.Equal(!refilled, t.RawData.Equals(original[t.Name].RawData) && t.FloatData.SequenceEqual(original[t.Name].FloatData));
        }
        Assert.Contains(read.Graph.Initializer, t => t.Name.EndsWith("running_var", StringComparison.Ordinal));
        Assert.Equal(read.Graph.Initializer.Select(t => t.RawData), WeightlessOnnx.Read(prefix).Whole.Graph.Initializer.Select(t => t.RawData));

        var rng = new Random(2);
        var input = Enumerable.Range(0, 2 * 3 * 32 * 32).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        long[] shape = [2, 3, 32, 32];
        using var one = new OnnxRuntimeEngine(read.ToByteArray());
        using var streams = new OnnxStreamParallelEngine(partition, new OnnxRuntimeOptions { IntraOpThreads = 1 }, _ => new OnnxRuntimeOptions { IntraOpThreads = 1 });
        var expected = one.Run(input, shape).Data;
        ExportTestSupport.AssertMeaningful(tensor(expected));
        double error = OfficialParityTests.RelativeL2(tensor(streams.Run(input, shape).Data), tensor(expected));
        Assert.True(error < 1e-5, $"relative L2 {error:E2}");
    }

    [Fact]
    public void Reading_where_nothing_was_written_says_what_makes_the_files()
    {
        using var folder = new ExportTempFolder();
        var e = Assert.Throws<FileNotFoundException>(() => WeightlessOnnx.Read(folder.File("none")));
        // the library names its own writer; the bench tool that reads them adds its command
        Assert.Equal($"no weightless graphs at {folder.File("none")}.* (WeightlessOnnx.Write makes them)", e.Message);
    }
}
