namespace ParNet.Distributed;

/// <summary>The process of another rank ended while the run still needs it.</summary>
public sealed class PeerLostException(string message) : Exception(message);

/// <summary>
/// Notices, before a collective, that another rank's process on this machine has ended (killed, crashed):
/// MPICH's UCX transport would otherwise abort this process inside the collective with a backtrace that names
/// only a PID. Ranks on other machines are watched by the launcher (hydra, Slurm), which ends the job.
/// Linux only (/proc); elsewhere nothing is watched.
/// </summary>
public sealed class PeerWatch
{
    readonly (int Rank, int Pid)[] _localPeers;

    public PeerWatch(IEnumerable<(int Rank, int Pid)> localPeers) => _localPeers = localPeers.ToArray();

    public IReadOnlyList<(int Rank, int Pid)> LocalPeers => _localPeers;

    /// <summary>Throws <see cref="PeerLostException"/> naming the first rank whose process is gone.</summary>
    public void Check()
    {
        foreach (var (rank, pid) in _localPeers)
            if (!Alive(pid))
                throw new PeerLostException($"rank {rank} (pid {pid}, this machine) ended unexpectedly (killed or crashed)");
    }

    /// <summary>The other processes on this machine that cannot take part in a collective now, in words (null: none seen):
    /// stopped (SIGSTOP, Ctrl-Z, a debugger), in uninterruptible I/O, or gone.</summary>
    public string? Unusual()
    {
        var said = _localPeers.Select(p => State(p.Pid) switch
        {
            'T' or 't' => $"rank {p.Rank} (pid {p.Pid}, this machine) is stopped (SIGSTOP, Ctrl-Z or a debugger)",
            'D' => $"rank {p.Rank} (pid {p.Pid}, this machine) is waiting in uninterruptible I/O (a disk or network file system)",
            'Z' or 'X' or null => $"rank {p.Rank} (pid {p.Pid}, this machine) has ended",
            _ => null,
        }).OfType<string>().ToArray();
        return said.Length > 0 ? string.Join("; ", said) : null;
    }

    /// <summary>The state letter of /proc/PID/stat (R, S, D, T, t, Z, ...); null when the process is gone; ' ' off Linux.</summary>
    static char? State(int pid)
    {
        if (!OperatingSystem.IsLinux()) return ' ';
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            int close = stat.LastIndexOf(')');
            return close < 0 || close + 2 >= stat.Length ? ' ' : stat[close + 2];
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return ' '; }
    }

    /// <summary>Running: /proc/PID exists and is not a zombie (a killed child stays one until its launcher reaps it).</summary>
    public static bool Alive(int pid) => State(pid) is char state && state is not ('Z' or 'X');
}
