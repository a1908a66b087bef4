using ParNet.Benchmarking;
using ParNet.Data;
using ParNet.Fusion;
using ParNet.Models;
using static TorchSharp.torch;

namespace ParNet.Studies;

/// <summary>
/// The latency column of a study's table: every trained cell's inference form (fused where it fuses) at batch 1, all timed
/// in one process after training, in rounds that visit each cell in turn, so that a busy moment of the machine falls on
/// every cell alike rather than on the one that happened to finish training then. Latency does not depend on the weights:
/// each network is built fresh (seeded) from its configuration.
/// </summary>
public static class StudyLatency
{
    /// <summary>Median over <paramref name="rounds"/> rounds of each cell's median of <paramref name="repeats"/> calls, in ms; an
    /// ensemble's is the sum of its members' (run one after another).</summary>
    public static StudyLatencies Measure(Study study, int rounds = 5, int repeats = 20)
    {
        if (rounds < 1 || repeats < 1) throw new ArgumentException($"rounds ({rounds}) and repeats ({repeats}) must be >= 1");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var cells = study.TrainedCells.ToList();
        // built from seed 0; the caller's random sequence left as it was (a library audit of session 47)
        var nets = Runtime.RandomState.Kept(() =>
        {
            manual_seed(0);
            return cells.Select(c => InferenceForm(c)).ToList();
        });
        var medians = cells.ToDictionary(c => c.Name, _ => new List<double>());
        try
        {
            for (int r = 0; r < rounds; r++)
                for (int i = 0; i < cells.Count; i++)
                {
                    var (net, input) = nets[i];
                    medians[cells[i].Name].Add(MedianMs(net, input, warmup: r == 0 ? 3 : 1, repeats));
                }
        }
        finally
        {
            foreach (var (net, _) in nets) net.Dispose();
        }
        var result = medians.ToDictionary(m => m.Key, m => TimingStats.Of(m.Value).Median);
        foreach (var ensemble in study.Cells.Where(c => c.IsEnsemble))
            result[ensemble.Name] = ensemble.Members.Sum(m => result[m]);
        return new StudyLatencies(result, rounds, repeats);
    }

    /// <summary>Median wall time (ms) of <paramref name="repeats"/> calls of <paramref name="net"/> on <paramref name="input"/>, after
    /// <paramref name="warmup"/> untimed ones, each call's tensors freed at once.</summary>
    public static double MedianMs(nn.Module<Tensor, Tensor> net, Tensor input, int warmup, int repeats) =>
        TimingStats.Measure(() => { using var s = NewDisposeScope(); net.call(input); }, warmup, repeats).Median * 1000;

    /// <summary>The cell's network in the form a study times (fused where it fuses, eval mode) and a batch-1 input at its side.</summary>
    public static (nn.Module<Tensor, Tensor> Net, Tensor Input) InferenceForm(StudyCell cell)
    {
        var model = ModelFactory.Create(cell.Model);
        nn.Module<Tensor, Tensor> net = model;
        if (model is ParNetModel)
        {
            net = ParNetFuser.Fuse(model);
            model.Dispose();
        }
        net.eval();
        int side = cell.ImageSize ?? PipelineSteps.FashionSide(cell.Model);
        return (net, randn(1, cell.Model.InChannels, side, side));
    }
}

/// <summary>Each cell's latency in ms (<see cref="StudyLatency.Measure"/>) and how it was taken: the median of
/// <see cref="Rounds"/> rounds of the median of <see cref="Repeats"/> calls, which the report says (it said "5 rounds of
/// 20" whatever was measured: a library audit of session 47).</summary>
public sealed record StudyLatencies(IReadOnlyDictionary<string, double> Ms, int Rounds, int Repeats);
