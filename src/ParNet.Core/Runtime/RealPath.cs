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
}
