using Onnx;
using ParNet.Export;
using ParNet.Tests.Models;

namespace ParNet.Tests.Export;

/// <summary>The exported bytes read back with OnnxSharp's generated parser: the facts a loader relies on.</summary>
public class OnnxModelProtoTests
{
    [Fact]
    public void Exported_bytes_parse_as_the_ModelProto_that_was_built()
    {
        using var model = OfficialParityTests.TrainedTinyModel();
        var proto = ModelProto.Parser.ParseFrom(OnnxExporter.ExportToBytes(model, 64));
        Assert.Equal(OnnxExporter.IrVersion, proto.IrVersion);
        Assert.Equal(OnnxExporter.Opset, proto.OpsetImport.Single(o => o.Domain == "").Version);
        var input = proto.Graph.Input.Single();
        Assert.Equal("input", input.Name);
        Assert.Equal("batch", input.Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal([3L, 64, 64], input.Type.TensorType.Shape.Dim.Skip(1).Select(d => d.DimValue));
        Assert.Equal("logits", proto.Graph.Output.Single().Name);
        foreach (var t in proto.Graph.Initializer)
        {
            int itemSize = t.DataType == (int)TensorProto.Types.DataType.Float ? 4 : 8;
            Assert.Equal(t.Dims.Aggregate(1L, (a, b) => a * b) * itemSize, t.RawData.Length);
        }
        var weight = model.state_dict().First(kv => kv.Key.EndsWith("weight", StringComparison.Ordinal));
        var stored = proto.Graph.Initializer.Single(t => t.Name == weight.Key);
        Assert.Equal(weight.Value.shape, stored.Dims.ToArray());
        Assert.Equal(weight.Value.flatten()[0].item<float>(), BitConverter.ToSingle(stored.RawData.Span));
        Assert.All(proto.Graph.Node, n => Assert.False(string.IsNullOrEmpty(n.OpType)));
        Assert.Equal(proto.Graph.Node.Count, proto.Graph.Node.Select(n => n.Name).Distinct().Count());
    }
}
