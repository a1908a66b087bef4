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
    /// <summary>Fusing built its model with random draws the weights then replace, and the matmul reference rate and a study's
    /// latency pass seeded the generator and left it there: a seeded run that fused to validate trained on with other dropout
    /// masks (a library audit of session 47).</summary>
    [Fact]
    public void Fusing_and_the_timings_that_seed_their_inputs_leave_the_callers_random_sequence()
    {
        using var tiny = ParNet.Models.ModelFactory.Create(OfficialParityTests.TinyConfig);
        var study = new ParNet.Studies.Study("two", "-", "-", [new("a", ParNet.Studies.StudyCatalog.ParNet("a", 4)), new("b", ParNet.Studies.StudyCatalog.ParNet("b", 4, streams: 2))], []);
        foreach (var (what, call) in new (string, Action)[]
                 {
                     ("ParNetFuser.Fuse", () => ParNet.Fusion.ParNetFuser.Fuse(tiny).Dispose()),
                     ("MatmulPeak.Measure", () => ParNet.Benchmarking.MatmulPeak.Measure(64, warmup: 0, repeats: 1)),
                     ("StudyLatency.Measure", () => ParNet.Studies.StudyLatency.Measure(study, rounds: 1, repeats: 1)),
                 })
        {
            manual_seed(321);
            using var expected = rand(3);
            manual_seed(321);
            call();
            using var drawn = rand(3);
            Assert.True(expected.data<float>().ToArray().SequenceEqual(drawn.data<float>().ToArray()), $"{what} moved the caller's random sequence");
        }
    }
}
