using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ParNet.Tests.Fusion;

/// <summary>Randomized BN statistics (default ones, mean 0 / var 1 / gamma 1 / beta 0, hide fusion bugs) and temp files.</summary>
static class FusionTestSupport
{
    /// <summary>
    /// Every BN of the module gets random running mean/var, gamma and beta (conv weights are random from init).
    /// <paramref name="strength"/> 1 is aggressive (single blocks); whole networks use less so activations stay finite.
    /// </summary>
    public static void Randomize(nn.Module module, long seed, double strength = 1.0)
    {
        manual_seed(seed);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();   // holds the temporaries while copy_ reads them (RESULTS.md, defect 6)
        foreach (var m in module.modules())
            if (m is BatchNorm2d bn)
            {
                long c = bn.running_mean!.shape[0];
                bn.running_mean.copy_(randn(c) * strength);
                bn.running_var!.copy_(rand(c) * 2.0 * strength + 0.25);
                bn.weight!.copy_(1.0 + (rand(c) - 0.5) * strength);
                bn.bias!.copy_(randn(c) * 0.5 * strength);
            }
    }

    /// <summary>|actual - expected| / |expected| (float32 throughout: see BranchFolding on float64 and libtorch).</summary>
    public static double RelativeL2(Tensor actual, Tensor expected) => Models.OfficialParityTests.RelativeL2(actual, expected);

    public static bool Same(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();   // holds the chain's intermediates (RESULTS.md, defect 6)
        return a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
    }

    /// <summary>A reference output that is non-finite or (near) zero makes a relative error meaningless.</summary>
    public static void AssertMeaningful(Tensor expected)
    {
        using var scope = NewDisposeScope();   // holds the chain's intermediates (RESULTS.md, defect 6)
        Assert.True(expected.isfinite().all().item<bool>(), "the reference output is not finite");
        Assert.True(expected.norm().item<float>() > 1e-20f, "a degenerate (all-zero) reference output proves nothing");
    }

    /// <summary>Eval-mode outputs of both modules on the same input, no grad.</summary>
    public static double Compare(nn.Module<Tensor, Tensor> trained, nn.Module<Tensor, Tensor> fused, Tensor input)
    {
        trained.eval();
        fused.eval();
        using var noGrad = no_grad();
        using var expected = trained.call(input);
        using var actual = fused.call(input);
        Assert.Equal(expected.shape, actual.shape);
        AssertMeaningful(expected);
        return RelativeL2(actual, expected);
    }

    /// <summary>
    /// Whole networks: the features before the classifier (the fused and trained heads are the same linear layer,
    /// whose shared bias would dilute a logit comparison), eval mode, no grad.
    /// </summary>
    public static double CompareFeatures(ParNet.Models.ImageClassifier trained, ParNet.Models.ImageClassifier fused, Tensor input)
    {
        trained.eval();
        fused.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var expected = trained.forward_features(input);
        AssertMeaningful(expected);
        return RelativeL2(fused.forward_features(input), expected);
    }

    public static Dictionary<string, Tensor> Snapshot(nn.Module module)
    {
        using var scope = NewDisposeScope();   // holds the detached views while clone reads them (RESULTS.md, defect 6)
        return module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().MoveToOuterDisposeScope());
    }

}

/// <summary>A temp directory deleted at dispose.</summary>
sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("parnet-fusion-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
