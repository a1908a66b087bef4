using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text;
using ParNet.Distributed;

namespace ParNet.Cli;

/// <summary>
/// How `parnet train` and `parnet train-bench` (<paramref name="command"/>) behave when an MPI launcher started them as
/// several processes: which process prints,
/// and how a failure on some processes ends all of them instead of leaving the others waiting in a collective.
/// Setup (options, data, model) is local; <see cref="SetupSucceeded"/> is the first collective, where every process
/// learns whether any failed: the lowest failing rank prints its error, and each other failing rank prints its own when
/// it differs from those of the ranks below it (a data folder missing on one host only); all exit with the same code. After
/// it, an error all processes agree on (<see cref="AgreedFailure"/>, a NaN) is printed by rank 0; any other error is
/// printed by its process, which then ends the whole job (MPI_Abort).
/// </summary>
public sealed class TrainLaunch(IProcessGroup group, string command)
{
    public IProcessGroup Group => group;
    public bool Distributed => group.Size > 1;
    bool _setupAgreed;

    /// <summary>How to continue once the run folder is known (said when a process is lost).</summary>
    public string? ResumeHint { get; set; }

    /// <summary>Every process calls this once its setup succeeded; throws on all of them when one failed.</summary>
    public void SetupSucceeded()
    {
        if (!Distributed) return;
        var failed = group.RanksWhere(false);
        if (failed.Length > 0)
        {
            FailureMessages(failed, "");   // the failing ranks tell each other what failed; this one listens
            throw new OtherRankFailed();
        }
        _setupAgreed = true;
    }

    /// <summary>Each failing rank's message, in rank order, on every process (one broadcast per failing rank).</summary>
    string[] FailureMessages(int[] failed, string mine) => failed.Select(rank => group.BroadcastText(mine, root: rank)).ToArray();

    /// <summary>
    /// Refuses a run whose processes resolved different options (recipe, model, data, switches): every process
    /// hashes what it resolved and compares with rank 0's, so a job started with mismatched command lines or
    /// files stops at once with one line.
    /// </summary>
    /// <param name="what">what a rank may have resolved otherwise, for the refusal</param>
    public void RequireSameSettings(string resolved, string what = "other settings, another model or other data")
    {
        var differing = group.RanksDifferingFromRoot(SHA256.HashData(Encoding.UTF8.GetBytes(resolved)));
        if (differing.Length > 0)
            throw new AgreedFailure($"the processes were started with different options: rank{(differing.Length > 1 ? "s" : "")} " +
                                    $"{string.Join(", ", differing)} resolved {what} than rank 0 (start every rank with the same command line and files)");
    }

    public int Run(Func<int> train, TextWriter stderr)
    {
        if (!Distributed) return train();
        try { return train(); }
        catch (OtherRankFailed) { return CommandRunner.UsageExitCode; }
        catch (Exception e) when (!_setupAgreed)
        {
            string message = OptionNames.Worded(e);
            var failed = group.RanksWhere(true);
            var messages = FailureMessages(failed, message);
            int mine = Array.IndexOf(failed, group.Rank);
            // the lowest failing rank speaks for all that failed alike; another speaks for itself when its error differs
            if (messages.Take(mine).Contains(message)) return CommandRunner.UsageExitCode;
            if (group.Rank != 0 && CommandRunner.IsUserError(e)) throw new UsageException($"rank {group.Rank}: {message}");
            ExceptionDispatchInfo.Capture(e).Throw();
            throw;
        }
        catch (AgreedFailure e)
        {
            if (group.Rank == 0) throw new UsageException(e.Message);
            return CommandRunner.UsageExitCode;
        }
        catch (Exception e)
        {
            EndAll(OptionNames.Worded(e), withResumeHint: e is PeerLostException, CommandRunner.IsUserError(e) ? CommandRunner.UsageExitCode : 1, stderr);
            throw;
        }
    }

    /// <summary>This process's last line ("parnet COMMAND: rank R: WHY; ending all N processes", with how to resume where
    /// the run can be), then MPI_Abort of every process with <paramref name="exitCode"/>.</summary>
    void EndAll(string why, bool withResumeHint, int exitCode, TextWriter stderr)
    {
        stderr.WriteLine($"parnet {command}: rank {group.Rank}: {why}; ending all {group.Size} processes" +
                         (withResumeHint && ResumeHint is { } hint ? $"; {hint}" : ""));
        stderr.Flush();
        group.Abort(exitCode);
    }

    /// <summary>A collective that waited past its limits (<see cref="IProcessGroup.WatchCollectives"/>): says which, how
    /// long and what is known of the others, and ends every process; after a stop with the stop's exit code (130, 143),
    /// else 1. Runs on the watch's thread while this process's training thread still waits in the collective.
    /// <paramref name="stop"/>: null before training (setup), where a signal ends the process as it comes.</summary>
    public void GiveUp(CollectiveStall stall, StopSignals? stop, TextWriter stderr)
    {
        string waited = stall.Waited < TimeSpan.FromMinutes(2)
            ? $"{Math.Round(stall.Waited.TotalSeconds):0} s" : $"{Math.Round(stall.Waited.TotalMinutes):0} min";
        string why = stall.Peers ?? "one of them is hung, or on another machine that this one cannot reach";
        var signal = stall.AfterStop ? stop : null;   // setup watches with no stop to ask
        EndAll($"{(signal is null ? "" : $"{signal.What}, but ")}{stall.Collective} has waited {waited} for the other processes: {why}",
               withResumeHint: true, signal?.ExitCode ?? 1, stderr);
    }

    sealed class OtherRankFailed : Exception;

    /// <summary>An error every process found the same way (the same collective result): rank 0 prints it once.</summary>
    public sealed class AgreedFailure(string message) : Exception(message);
}
