using ParNet.Distributed;
using TorchSharp;
using static TorchSharp.torch;

namespace ParNet.Training;

/// <summary>
/// What the trainer does with its processes in data-parallel training: one start from rank 0's state,
/// running statistics made consistent before evaluations and checkpoints, per-step numbers and an
/// evaluation summed over the ranks. With one process every method changes nothing.
/// </summary>
public static class DataParallel
{
    /// <summary>Rank 0's tensors copied into every process's (weights, buffers, optimizer and EMA state), in name order.</summary>
    public static void BroadcastFromRoot(IProcessGroup group, IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        if (group.Size == 1) return;
        using var noGrad = no_grad();
        foreach (var (_, t) in tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (Reducible(t)) group.Broadcast(t);
            else
            {
                using var scope = NewDisposeScope();   // holds the chain's intermediates (RESULTS.md, defect 6)
                var copy = t.to(ScalarType.Float32).contiguous();
                group.Broadcast(copy);
                t.copy_(copy);
            }
        }
    }

    /// <summary>
    /// BatchNorm running means and variances averaged over the processes (each rank saw only its shard's
    /// batches), so that evaluation and checkpoints see one model; the same for the EMA copy's.
    /// </summary>
    public static void AverageRunningStatistics(IProcessGroup group, IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        if (group.Size == 1) return;
        using var noGrad = no_grad();
        using Scalar processes = (double)group.Size;
        foreach (var (_, t) in tensors.Where(kv => kv.Key.EndsWith(".running_mean", StringComparison.Ordinal)
                                                  || kv.Key.EndsWith(".running_var", StringComparison.Ordinal)).OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            using var scope = NewDisposeScope();   // holds the chain's intermediates (RESULTS.md, defect 6)
            var sum = t.to(ScalarType.Float64).contiguous();
            group.AllReduceSum(sum);
            sum.div_(processes);
            t.copy_(sum);
        }
    }

    static bool Reducible(Tensor t) => t.is_contiguous() && t.dtype is ScalarType.Float32 or ScalarType.Float64 or ScalarType.Int64 or ScalarType.Byte;

    /// <summary>
    /// The ranks whose weights are not bit-identical to rank 0's (SHA-256 of every parameter's bytes, in name
    /// order): the check that data-parallel replicas stay the same model. Buffers are left out: without
    /// SyncBatchNorm each process's running statistics follow its own batches until they are averaged.
    /// </summary>
    public static int[] RanksWithOtherWeights(IProcessGroup group, nn.Module model)
    {
        if (group.Size == 1) return [];
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var (name, t) in model.named_parameters().OrderBy(kv => kv.name, StringComparer.Ordinal))
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
            using var scope = NewDisposeScope();   // holds the chain's intermediates (RESULTS.md, defect 6)
            var c = t.detach().contiguous();
            hash.AppendData(c.bytes);
        }
        return group.RanksDifferingFromRoot(hash.GetHashAndReset());
    }

    /// <summary>
    /// Whether to stop before the next step, and the run's wall time, agreed by all processes in one all-reduce
    /// (each has its own clock and Ctrl-C): when any process would stop, all stop, for the first reason in
    /// <see cref="StopReason"/>'s order that any gives; the wall time is the processes' mean, so that a schedule
    /// budget gives every process the same learning rate and ends the run at the same step. <paramref name="unreadable"/>:
    /// this process could not read its next batch; <c>AnyUnreadable</c>, whether any could (all then stop:
    /// <see cref="AgreeOnUnreadable"/> says which).
    /// </summary>
    public static (StopReason? Stop, double WallSeconds, bool AnyUnreadable) AgreeOnStep(IProcessGroup group, StopReason? mine, double wallSeconds,
                                                                                        bool unreadable = false)
    {
        if (group.Size == 1) return (mine, wallSeconds, unreadable);
        var reasons = Enum.GetValues<StopReason>();
        var votes = new double[reasons.Length + 2];
        if (mine is { } m) votes[Array.IndexOf(reasons, m)] = 1;
        votes[^2] = unreadable ? 1 : 0;
        votes[^1] = wallSeconds;
        using var t = tensor(votes);
        group.AllReduceSum(t);
        var sums = t.data<double>().ToArray();
        int first = Array.FindIndex(sums, 0, reasons.Length, v => v > 0);
        return (first < 0 ? null : reasons[first], sums[^1] / group.Size, sums[^2] > 0);
    }

    /// <summary>
    /// Whether any process could not read its data (<paramref name="mine"/>: this one's error, or null), agreed by all: null
    /// when none could; else one <see cref="UnreadableDataException"/> that every process throws alike, in the words of the
    /// lowest failing rank (named where it is not rank 0), so that the run stops, and is saved, at one step on every process
    /// (a corrupt image under mpiexec had ended the job at once, its epoch lost: MPI audit, session 43). Collectives: every
    /// process calls it at the same point.
    /// </summary>
    public static UnreadableDataException? AgreeOnUnreadable(IProcessGroup group, InvalidDataException? mine)
    {
        if (group.Size == 1) return mine is null ? null : new UnreadableDataException(mine.Message, mine);
        int[] failing = group.RanksWhere(mine is not null);
        if (failing.Length == 0) return null;
        string words = group.BroadcastText(mine?.Message ?? "", root: failing[0]);
        string others = failing.Length > 1 ? $" (and rank{(failing.Length > 2 ? "s" : "")} {string.Join(", ", failing.Skip(1))} could not read theirs)" : "";
        return new UnreadableDataException((failing[0] == 0 ? "" : $"rank {failing[0]}: ") + words + others, failing[0] == group.Rank ? mine : null);
    }

    /// <summary>One step's loss and hits over all processes, and which ranks had a non-finite loss: one all-reduce.</summary>
    public static (double Loss, long Correct, long Count, int[] NonFiniteRanks) Step(IProcessGroup group, double loss, long correct, long count)
    {
        bool finite = double.IsFinite(loss);
        if (group.Size == 1) return (loss, correct, count, finite ? [] : [0]);
        var values = new double[3 + group.Size];
        values[0] = finite ? loss * count : 0;
        values[1] = correct;
        values[2] = count;
        values[3 + group.Rank] = finite ? 0 : 1;
        using var t = tensor(values);
        group.AllReduceSum(t);
        var sums = t.data<double>().ToArray();
        var bad = Enumerable.Range(0, group.Size).Where(r => sums[3 + r] != 0).ToArray();
        return (sums[0] / sums[2], (long)sums[1], (long)sums[2], bad);
    }

    /// <summary>
    /// An evaluation of each rank's shard (disjoint, together the whole set) summed into the evaluation of the
    /// whole set: confusion counts, top-5 hits and loss sums, so top-1 is the single-process one to the image.
    /// </summary>
    public static EvalResult Sum(IProcessGroup group, EvalResult local)
    {
        if (group.Size == 1) return local;
        int k = local.Confusion.GetLength(0);
        var values = new double[3 + k * k];
        values[0] = local.Count;
        values[1] = local.Count > 0 ? local.Loss * local.Count : 0;
        values[2] = local.Count > 0 && EvalResult.HasTop5(k) ? Math.Round(local.Top5 * local.Count) : 0;
        for (int r = 0; r < k; r++)
            for (int c = 0; c < k; c++) values[3 + r * k + c] = local.Confusion[r, c];
        using var t = tensor(values);
        group.AllReduceSum(t);
        var sums = t.data<double>().ToArray();
        var confusion = new long[k, k];
        long correct = 0;
        for (int r = 0; r < k; r++)
            for (int c = 0; c < k; c++) confusion[r, c] = (long)sums[3 + r * k + c];
        for (int c = 0; c < k; c++) correct += confusion[c, c];
        long count = (long)sums[0];
        return local with
        {
            Count = (int)count, Confusion = confusion,
            Loss = count > 0 ? sums[1] / count : double.NaN,
            Top1 = count > 0 ? (double)correct / count : double.NaN,
            Top5 = count > 0 && EvalResult.HasTop5(k) ? sums[2] / count : double.NaN,
        };
    }
}
