using System.Text;
using static TorchSharp.torch;

namespace ParNet.Distributed;

/// <summary>Collectives built from <see cref="IProcessGroup"/>'s two: text, flags and per-rank values.</summary>
public static class ProcessGroupExtensions
{
    /// <summary>Rank <paramref name="root"/>'s text on every process (e.g. the run folder, whose default name holds the time);
    /// the other processes' <paramref name="text"/> is not read.</summary>
    public static string BroadcastText(this IProcessGroup group, string text, int root = 0)
    {
        if (group.Size == 1) return text;
        var bytes = Encoding.UTF8.GetBytes(text);
        using var length = tensor(new long[] { bytes.Length });
        group.Broadcast(length, root);
        var buffer = new byte[length.item<long>()];
        if (group.Rank == root) bytes.CopyTo(buffer, 0);
        using var data = tensor(buffer, ScalarType.Byte);
        if (buffer.Length > 0) group.Broadcast(data, root);
        return Encoding.UTF8.GetString(data.data<byte>().ToArray());
    }

    /// <summary>Each rank's value, on every rank (index = rank): one sum of a one-hot vector.</summary>
    public static double[] AllGather(this IProcessGroup group, double value)
    {
        var values = new double[group.Size];
        values[group.Rank] = value;
        using var t = tensor(values);
        group.AllReduceSum(t);
        return t.data<double>().ToArray();
    }

    /// <summary>The ranks whose <paramref name="flag"/> is set, on every rank (empty when none).</summary>
    public static int[] RanksWhere(this IProcessGroup group, bool flag)
        => group.AllGather(flag ? 1 : 0).Select((v, rank) => (v, rank)).Where(x => x.v != 0).Select(x => x.rank).ToArray();

    /// <summary>The ranks whose bytes differ from rank 0's (a hash of what each resolved), on every rank.</summary>
    public static int[] RanksDifferingFromRoot(this IProcessGroup group, byte[] value)
    {
        if (group.Size == 1) return [];
        using var mine = tensor(value, ScalarType.Byte);
        using var root = mine.clone();
        group.Broadcast(root);
        return group.RanksWhere(!mine.eq(root).all().item<bool>());
    }
}
