using ParNet.Models;
using ParNet.Tests.Data;
using ParNet.Weights;
using TorchSharp.PyBridge;

namespace ParNet.Tests.Models;

/// <summary>Key names and shapes against the state dict written by the authors' code (the fixture).</summary>
public class StateDictKeyTests
{
    [Fact]
    public void Tiny_model_keys_and_shapes_equal_the_official_state_dict()
    {
        var official = Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.safetensors"));
        using var model = new ParNetModel(OfficialParityTests.TinyConfig);
        var ours = model.state_dict();
        Assert.Equal(official.Keys.OrderBy(k => k, StringComparer.Ordinal), ours.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (key, tensor) in official)
            Assert.True(tensor.shape.SequenceEqual(ours[key].shape), $"{key}: [{string.Join(",", ours[key].shape)}]");
    }

    /// <summary>Spec: 378 entries for every variant, 192 parameters and 186 BN buffers.</summary>
    [Theory]
    [InlineData("parnet_s")]
    [InlineData("parnet_s92")]
    [InlineData("parnet_m")]
    [InlineData("parnet_l")]
    [InlineData("parnet_xl")]
    public void ImageNet_variants_have_the_378_released_keys(string name)
    {
        var official = Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.safetensors")).Keys.ToHashSet();
        using var model = ModelRegistry.Create(name);
        Assert.Equal(378, model.state_dict().Count);
        Assert.Equal(192, model.parameters().Count());
        Assert.True(official.SetEquals(model.state_dict().Keys), "key names differ from the released code's");
    }

    [Fact]
    public void Strict_loading_names_every_mismatch_and_loads_nothing()
    {
        var official = Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.safetensors"));
        official.Remove("head.fc.bias");
        official["extra.weight"] = TorchSharp.torch.zeros(3);
        official["streams.0.0.block.rbr_dense.conv.weight"] = TorchSharp.torch.zeros(16, 16, 1, 1);
        using var model = new ParNetModel(OfficialParityTests.TinyConfig);
        var before = model.state_dict()["inits.0.0.block.rbr_dense.conv.weight"].clone();

        var e = Assert.Throws<InvalidDataException>(() => StateDict.Load(model, official));
        Assert.Contains("1 missing: head.fc.bias", e.Message);
        Assert.Contains("1 unexpected: extra.weight", e.Message);
        Assert.Contains("streams.0.0.block.rbr_dense.conv.weight (model [16,16,3,3], file [16,16,1,1])", e.Message);
        Assert.True(before.eq(model.state_dict()["inits.0.0.block.rbr_dense.conv.weight"]).all().item<bool>(), "a failed load changed weights");
    }

    [Fact]
    public void Safetensors_are_written_through_a_symbolic_link_with_their_metadata()
    {
        using var dir = new TempDirectory();
        string target = dir.File("weights.safetensors"), link = dir.File("latest.safetensors");
        File.WriteAllText(target, "older weights");
        File.CreateSymbolicLink(link, target);
        using var ones = TorchSharp.torch.ones(2, 3);
        StateDict.Write(new() { ["w"] = ones }, link, [new("note", "linked")]);
        Assert.Equal("symbolic link", TempDirectory.FileKind(link));
        Assert.True(Safetensors.LoadStateDict(target)["w"].eq(ones).all().item<bool>());
        Assert.Contains("\"note\":\"linked\"", File.ReadAllText(target));
        Assert.Equal(2, Directory.GetFileSystemEntries(dir.Path).Length);   // no temporary file left
    }

    [Fact]
    public void Safetensors_round_trip_keeps_every_tensor()
    {
        using var model = OfficialParityTests.TrainedTinyModel();
        string path = Path.Combine(Path.GetTempPath(), $"parnet-roundtrip-{Guid.NewGuid():N}.safetensors");
        try
        {
            StateDict.Save(model, path);
            using var copy = new ParNetModel(OfficialParityTests.TinyConfig);
            StateDict.Load(copy, path);
            foreach (var (key, tensor) in model.state_dict())
                Assert.True(tensor.eq(copy.state_dict()[key]).all().item<bool>(), key);
        }
        finally { File.Delete(path); }
    }
}
