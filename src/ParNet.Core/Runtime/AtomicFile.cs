namespace ParNet.Runtime;

/// <summary>
/// Replaces a file crash-safely: the content goes to a temporary file beside the target, which is then renamed over it,
/// so the target is never half-written and a failed write leaves no temporary file behind; each write its own temporary
/// file (TARGET.RANDOM.tmp, TARGET's name cut where that would pass 255 bytes: <see cref="TemporaryName"/>), so that
/// concurrent writers of one file do not break each other's writes. A process killed while it writes (kill -9) leaves its temporary file behind
/// (no later write knows it for its own). A symbolic link is written
/// through (its final target is replaced; the link stays a link). A target that exists and is not a regular file (a
/// directory, device, FIFO or socket) is refused before anything is written: the rename would replace it. Failures name
/// the path the caller gave, never the temporary file. A process that ends on a signal can delete the temporary
/// files of its writes under way first (<see cref="AbandonWritesInProgress"/>).
/// </summary>
public static class AtomicFile
{
    /// <param name="path">the file to write (or replace)</param>
    /// <param name="writeTemporary">writes the whole content to the path it is given</param>
    /// <param name="temporarySuffix">ends the temporary file's name, after the target's name and a random token</param>
    public static void Write(string path, Action<string> writeTemporary, string temporarySuffix = ".tmp") =>
        WithTemporary(path, writeTemporary, temporarySuffix, (temporary, target) =>
        {
            using (var written = new FileStream(temporary, FileMode.Open, FileAccess.ReadWrite))
                written.Flush(flushToDisk: true);   // on the disk before the rename, so a crash leaves the old file or the new one
            File.Move(temporary, target, overwrite: true);
        });

    /// <summary>
    /// Fails as <see cref="Write"/> would where <paramref name="path"/>'s folder takes no new file (it cannot be made, takes no
    /// files, is not this user's) or the path is a folder or a device, before long work makes the content: export --int8
    /// calibrated for minutes, then could not write. Makes the folder and an empty file beside the target, deletes that file;
    /// the target is not touched. What only the write itself meets (a full disk, a target another user owns in a sticky
    /// folder such as /tmp) it does not foresee.
    /// </summary>
    public static void RequireWritable(string path) =>
        WithTemporary(path, temporary => File.WriteAllBytes(temporary, []), ".probe", (temporary, _) => File.Delete(temporary));

    /// <summary>Writes a temporary file beside <paramref name="path"/>'s target, then hands both to <paramref name="finish"/>; on
    /// failure deletes the temporary file and says which path failed and why.</summary>
    static void WithTemporary(string path, Action<string> writeTemporary, string temporarySuffix, Action<string, string> finish)
    {
        string target = FinalTarget(path);
        if (FileType.NonRegularKind(target) is { } kind) throw new IOException($"{path} is a {kind}, not a regular file; not replaced");
        string folder = Path.GetDirectoryName(target)!;
        try { Directory.CreateDirectory(folder); }
        catch (IOException e) when (FileOnTheWay(folder) is { } file)   // .NET says only "The file 'FILE' already exists."
        {
            throw new IOException($"{path}: its folder cannot be made: {file} is a file, not a folder", e);
        }
        // a name of this write's own, random (process ids repeat across machines sharing a folder, and in containers): two
        // writers of one file (mpiexec -n 2 parnet convert ..., two threads) each rename their own complete file over it;
        // with one name for all, one writer's open file refused the other, or its cleanup deleted the other's file, and both
        // failed (walk C, session 28)
        string temporary = Path.Combine(folder, TemporaryName(Path.GetFileName(target),
            $".{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4))}{temporarySuffix}"));
        InProgress.TryAdd(temporary, path);
        bool temporaryWritten = false;
        try
        {
            writeTemporary(temporary);
            temporaryWritten = true;
            finish(temporary, target);
        }
        catch (Exception e)
        {
            try { if (File.Exists(temporary)) File.Delete(temporary); }   // a full disk leaves no partial file behind
            catch (Exception e2) when (e2 is IOException or UnauthorizedAccessException) { }   // the first failure is the one to report
            // a folder that exists but makes no new file (/proc, /sys) says only "Could not find file PATH"; only the
            // write of the temporary file meets it there (a temporary file deleted under a signal fails later, its own way)
            if (!temporaryWritten && e is FileNotFoundException && Directory.Exists(folder) && !File.Exists(temporary))
                throw new IOException($"{path}: {folder} takes no new files (a system folder such as /proc or /sys); write elsewhere", e);
            if (e is IOException or UnauthorizedAccessException) throw NamingPath(e, temporary, path);
            throw;
        }
        finally { InProgress.TryRemove(temporary, out _); }
    }

    /// <summary>Longest file name, in bytes, of Linux's file systems (ext4, xfs, btrfs, tmpfs: NAME_MAX).</summary>
    const int LongestName = 255;

    /// <summary>
    /// The target's name with <paramref name="ending"/>, the name cut (at a whole character) to leave room for it: a name
    /// the file system takes but too long for 13 bytes more (export --out of 243-255 bytes) was refused as "The path ... is
    /// too long" (environment audit, session 37).
    /// </summary>
    internal static string TemporaryName(string name, string ending)
    {
        var utf8 = System.Text.Encoding.UTF8;
        int room = LongestName - utf8.GetByteCount(ending);
        if (utf8.GetByteCount(name) <= room) return name + ending;
        var cut = new System.Text.StringBuilder();
        int bytes = 0;
        foreach (var rune in name.EnumerateRunes())
        {
            if (bytes + rune.Utf8SequenceLength > room) break;
            bytes += rune.Utf8SequenceLength;
            cut.Append(rune.ToString());
        }
        return cut + ending;
    }

    /// <summary>The temporary files of the writes under way in this process, each with the path its write was asked for.</summary>
    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> InProgress = new(StringComparer.Ordinal);

    /// <summary>
    /// Deletes the temporary files of the writes under way, for a process that is about to end on a signal (Ctrl-C or
    /// SIGTERM during an export): their targets stay as they were, and no TARGET.*.tmp is left behind. Only for a process
    /// whose writes are all to be abandoned: a write that goes on after it fails. Returns the paths of the writes abandoned
    /// (as given to <see cref="Write"/>), for the line that says they were left as they were: an export ended by Ctrl-C said
    /// nothing at all (an export audit of session 48).
    /// </summary>
    public static IReadOnlyList<string> AbandonWritesInProgress()
    {
        var abandoned = new List<string>();
        foreach (var (temporary, path) in InProgress)
        {
            abandoned.Add(path);
            try { File.Delete(temporary); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // ending anyway: best effort
        }
        return abandoned.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>A text file (UTF-8 without a byte-order mark, as File.WriteAllText writes it), replaced as <see cref="Write"/> does.</summary>
    public static void WriteAllText(string path, string contents) => Write(path, temporary => File.WriteAllText(temporary, contents));

    /// <summary>The nearest existing path at or above <paramref name="folder"/> when it is a file; null when it is a folder.</summary>
    static string? FileOnTheWay(string folder)
    {
        for (string? p = folder; p is not null; p = Path.GetDirectoryName(p))
        {
            if (File.Exists(p)) return p;
            if (Directory.Exists(p)) return null;
        }
        return null;
    }

    /// <summary>The full path of the file <see cref="Write"/> writes for <paramref name="path"/>: where a symbolic link (or a
    /// chain of them) finally points, the path itself when it is no link. (FileInfo of a link describes the link.)</summary>
    public static string FinalTarget(string path)
    {
        var file = new FileInfo(Path.GetFullPath(path));
        return file.LinkTarget is null ? file.FullName : file.ResolveLinkTarget(returnFinalTarget: true)!.FullName;
    }


    /// <summary>The same failure, naming <paramref name="path"/> instead of the temporary file.</summary>
    static Exception NamingPath(Exception e, string temporary, string path)
    {
        string message = e.Message.Replace(temporary, path, StringComparison.Ordinal);
        if (!message.Contains(path, StringComparison.Ordinal)) message = $"{path}: {message}";
        return e is UnauthorizedAccessException ? new UnauthorizedAccessException(message, e) : new IOException(message, e);
    }
}
