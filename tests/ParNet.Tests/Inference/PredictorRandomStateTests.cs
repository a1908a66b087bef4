using ParNet.Data;
using ParNet.Inference;
using ParNet.Tests.Models;
using static TorchSharp.torch;

namespace ParNet.Tests.Inference;

/// <summary>Opening predictors against libtorch's global random generator, which the whole process shares: alone, so that no
/// other class's draws land among this test's (RunsAlone).</summary>
[Collection(nameof(RunsAlone))]
public class PredictorRandomStateTests
{
    /// <summary>Opening a predictor drew from the caller's seeded random sequence (a model is built before its weights are
    /// loaded), and untrained predictors opened on several threads at once drew from each other's seeding: their weights
    /// differed, against the fixed seed's promise (library audit, session 39).</summary>
    [Fact]
    public void Opening_predictors_leaves_the_callers_random_sequence_and_untrained_ones_opened_at_once_are_alike()
    {
        manual_seed(123);
        using var expected = rand(3);
        manual_seed(123);
        using (new PredictorSource { Weights = Fixtures.Path("parnet_official_tiny_silu.safetensors"), Model = OfficialParityTests.TinyConfig }.Open())
        using (new PredictorSource { Model = OfficialParityTests.TinyConfig }.Open())   // untrained: seeded with its own seed
        {
            using var drawn = rand(3);
            Assert.Equal(expected.data<float>().ToArray(), drawn.data<float>().ToArray());   // the caller's sequence did not move
        }
        var random = new Random(7);
        var image = new ImageF(Enumerable.Range(0, 3 * 64 * 64).Select(_ => (float)random.NextDouble()).ToArray(), 3, 64, 64);
        var opened = new ImagePredictor[4];
        Parallel.For(0, opened.Length, i => opened[i] = new PredictorSource { Model = OfficialParityTests.TinyConfig }.Open());
        try
        {
            var first = opened[0].Probabilities(image);
            Assert.All(opened, p => Assert.Equal(first, p.Probabilities(image)));
        }
        finally { foreach (var p in opened) p.Dispose(); }
    }
}
