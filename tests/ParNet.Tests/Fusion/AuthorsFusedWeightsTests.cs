using ParNet.Export;
using ParNet.Models;
using ParNet.Tests.Data;
using ParNet.Tests.Models;
using ParNet.Weights;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ParNet.Tests.Fusion;

/// <summary>
/// A state dict fused by the authors' `fuse_repvgg_block` names each block's fused conv `rbr_dense` (weight and bias), ours
/// `rbr_reparam`: such a file was refused with 264 missing and 44 unexpected keys (an outside check of session 35).
/// </summary>
public class AuthorsFusedWeightsTests
{
    [Fact]
    public void Weights_fused_as_the_authors_name_them_load_fused_and_give_their_fused_logits()
    {
        using var dir = new TempDirectory();
        // the fixture's network fused, its fused convs renamed as the authors' fuse_repvgg_block leaves them
        var (fused, _) = ClassifierLoader.Load(Fixtures.Path("parnet_official_tiny_silu.safetensors"), OfficialParityTests.TinyConfig, NetworkForm.Fused);
        var authorsNamed = new Dictionary<string, Tensor>();
        using (fused)
            foreach (var (key, value) in fused.state_dict())
                authorsNamed[key.Replace(".rbr_reparam.", ".rbr_dense.", StringComparison.Ordinal)] = value.detach().clone();
        Assert.Contains(authorsNamed.Keys, k => k.EndsWith(".rbr_dense.bias", StringComparison.Ordinal));
        string path = dir.File("authors-fused.safetensors");
        StateDict.Write(authorsNamed, path);

        // fine-tuning starts from the training form: such a file is refused as fused weights, as ours are, not as 264 keys
        // missing and 44 unexpected (an audit of fine-tuning, session 45)
        using (var untrained = ModelFactory.Create(OfficialParityTests.TinyConfig))
        {
            var refused = Assert.Throws<InvalidDataException>(() => ParNet.Training.Pretrained.LoadBackbone(untrained, path));
            Assert.StartsWith($"{path}: fused weights (re-parameterized for inference, e.g. ", refused.Message);
        }

        var (loaded, info) = ClassifierLoader.Load(path, OfficialParityTests.TinyConfig, NetworkForm.AsStored);
        using (loaded)
        {
            Assert.True(info.Fused);
            var io = Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"));
            using var noGrad = no_grad();
            using var logits = loaded.call(io["input"]);
            double error = OfficialParityTests.RelativeL2(logits, io["logits_fused"]);   // the authors' own fused logits
            Assert.True(error <= 1e-5, $"relative L2 error {error:E3}");
        }
    }
}
