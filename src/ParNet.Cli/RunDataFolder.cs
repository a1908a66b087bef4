namespace ParNet.Cli;

/// <summary>
/// The data folder a command reads for a run: --data when given, else the run's own (its run.json), which must still
/// be there: a moved folder is the run's, not a --data the user typed, and the message says so.
/// </summary>
static class RunDataFolder
{
    public static string? Resolve(string? given, string? runsOwn)
    {
        if (given is not null || runsOwn is null) return given;
        if (!Directory.Exists(runsOwn))
            throw new UsageException($"the run's data folder {runsOwn} (its run.json) is not there any more; give --data DIR");
        return runsOwn;
    }
}
