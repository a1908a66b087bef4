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

    /// <summary>Running: /proc/PID exists and is not a zombie (a killed child stays one until its launcher reaps it).</summary>
    public static bool Alive(int pid)
    {
        if (!OperatingSystem.IsLinux()) return true;
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            int close = stat.LastIndexOf(')');
            return close < 0 || close + 2 >= stat.Length || stat[close + 2] is not ('Z' or 'X');
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return true; }
    }
}
