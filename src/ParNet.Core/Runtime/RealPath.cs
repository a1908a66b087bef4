using System.Runtime.InteropServices;

namespace ParNet.Runtime;

/// <summary>realpath(3): a path with every link, "." and ".." resolved, as the kernel walks it (.NET resolves a link's own
/// target, not the links among the folders above it).</summary>
public static class RealPath
{
    [DllImport("libc", EntryPoint = "realpath", SetLastError = true)]
    static extern IntPtr Resolve(string path, IntPtr resolved);

    [DllImport("libc", EntryPoint = "free")]
    static extern void Free(IntPtr pointer);

    /// <summary>The resolved path of <paramref name="path"/>; null where it cannot be resolved (a missing target, a loop of
    /// links, no permission), or off Linux.</summary>
    public static string? Of(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        IntPtr resolved = Resolve(path, IntPtr.Zero);
        if (resolved == IntPtr.Zero) return null;
        try { return Marshal.PtrToStringUTF8(resolved); }
        finally { Free(resolved); }
    }

    /// <summary>Where <paramref name="path"/> is a symbolic link whose target does not exist, says so ("PATH is a link to
    /// TARGET, which does not exist"); null otherwise. .NET says only "The file 'PATH' already exists." when asked to make
    /// a folder there.</summary>
    public static string? DanglingLink(string path)
    {
        string link = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));   // "run/" names the link too
        if (new FileInfo(link).LinkTarget is not string target) return null;
        string final;
        try { final = AtomicFile.FinalTarget(link); }
        catch (IOException) { return null; }   // a loop of links: not this case
        // File.Exists is true for a dangling link itself; the final target is no link
        return File.Exists(final) || Directory.Exists(final) ? null : $"{path} is a link to {target}, which does not exist";
    }
}
