using ParNet.Export;
using ParNet.Models;
using ParNet.Tests.Export;

namespace ParNet.Tests.Cli;

/// <summary>
/// `parnet eval --weights M.onnx` of a graph exported by another tool (no ParNet metadata): it was scored as the recipe's
/// network, named so in the header, and a colour model fed grey images, or one fixed to batch 1 fed batches, stopped with
/// ONNX Runtime's stack trace (exit 134; left alone in note 34).
/// </summary>
public class ForeignOnnxEvalTests
{
    /// <summary>A 3-channel, 10-class network at 32 px exported without metadata (with ParNet's when
    /// <paramref name="keepMetadata"/>); its batch axis fixed to <paramref name="batch"/> when given.</summary>
    internal static string ForeignOnnx(ExportTempFolder folder, string name, long? batch = null, bool keepMetadata = false)
    {
        string path = folder.File(name);
        var config = ModelRegistry.Get("parnet_cifar_small") with { Planes = [4, 8, 16], FinalWidth = 16, InChannels = 3, NumClasses = 10 };
        using var model = ModelFactory.Create(config);
        model.eval();
        var proto = OnnxExporter.BuildModel(model, 32, 32);
        if (!keepMetadata) proto.MetadataProps.Clear();   // as a graph exported by another tool
        if (batch is long b)
            foreach (var value in new[] { proto.Graph.Input[0], proto.Graph.Output[0] })
                value.Type.TensorType.Shape.Dim[0] = new Onnx.TensorShapeProto.Types.Dimension { DimValue = b };
        OnnxExporter.Write(proto, path);
        return path;
    }

    [Fact]
    public void A_colour_graph_without_metadata_is_scored_on_grey_data_under_its_file_name()
    {
        using var folder = new ExportTempFolder();
        string path = ForeignOnnx(folder, "colour.onnx");
        var (code, stdout, stderr) = CliRunner.Run("eval", "--weights", path, "--subset", "1", "--out", folder.File("report"));
        Assert.True(code == 0, stderr + stdout);
        Assert.StartsWith($"colour.onnx on fashion-mnist test (10 images, 3x32x32; weights {path})", stdout);
    }

    [Fact]
    public void A_graph_fixed_to_batch_one_is_scored_one_image_at_a_time_and_other_batches_are_refused()
    {
        using var folder = new ExportTempFolder();
        string one = ForeignOnnx(folder, "one.onnx", batch: 1), four = ForeignOnnx(folder, "four.onnx", batch: 4);
        var (code, stdout, stderr) = CliRunner.Run("eval", "--weights", one, "--subset", "1", "--out", folder.File("report"));
        Assert.True(code == 0, stderr + stdout);
        Assert.StartsWith("one.onnx on fashion-mnist test (10 images, 3x32x32;", stdout);
        CliRunner.AssertUserError(CliRunner.Run("eval", "--weights", one, "--subset", "1", "--batch-size", "8"),
            $"parnet eval: {one} takes batches of exactly 1 image (exported without a dynamic batch axis): leave --batch-size out, or give 1");
        CliRunner.AssertUserError(CliRunner.Run("eval", "--weights", four, "--subset", "1"),
            $"parnet eval: {four} takes batches of exactly 4 images (exported without a dynamic batch axis): export it with a dynamic batch axis; eval's last batch is smaller");
    }
}
