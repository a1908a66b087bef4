namespace ParNet.Runtime;

/// <summary>
/// The folder a command writes its results into (bench's report, a study's runs and report, eval's report), checked before
/// the work (minutes to hours) rather than found unwritable after it; and taken back, still empty, when the work fails.
/// </summary>
public static class OutputFolder
{
    /// <summary>Creates <paramref name="directory"/> and writes (and deletes) a file in it: the IOException or
    /// UnauthorizedAccessException of the first step that fails. Returns whether the folder was made here.</summary>
    public static bool Prepare(string directory)
    {
        if (RealPath.DanglingLink(directory) is string dangling) throw new IOException(dangling);
        bool made = !Directory.Exists(directory);
        Directory.CreateDirectory(directory);
        using var probe = new FileStream(Path.Combine(directory, $".parnet-write-check-{Environment.ProcessId}"), FileMode.Create,
                                         FileAccess.Write, FileShare.None, bufferSize: 1, FileOptions.DeleteOnClose);
        return made;
    }

    /// <summary>Removes <paramref name="directory"/> if it is empty (a folder <see cref="Prepare"/> made for work that then
    /// failed: nothing to leave behind); one it cannot remove stays, the work's own failure being the one to report.</summary>
    public static void RemoveIfEmpty(string directory)
    {
        try { if (Directory.Exists(directory) && !Directory.EnumerateFileSystemEntries(directory).Any()) Directory.Delete(directory); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
