using System.Runtime.InteropServices;

namespace ParNet.Runtime;

/// <summary>What kind of file a path names, beyond what .NET tells: a FIFO or device is a "Normal" file to it, and opening
/// one for reading blocks until a writer comes (a FIFO given as --weights held predict, eval and serve for ever: an
/// export audit of session 48).</summary>
public static class FileType
{
    /// <summary>What an existing path (through links) is when it is not a regular file; null for a regular file or none. .NET reports a
    /// device or FIFO as a Normal file, so the file type comes from statx(2) on Linux, the platform this library runs on.</summary>
    public static string? NonRegularKind(string path)
    {
        if (Directory.Exists(path)) return "directory";
        if (!OperatingSystem.IsLinux()) return null;
        var status = new byte[256];   // struct statx, the same layout on every architecture: stx_mode is the u16 at byte 28
        try
        {
            if (StatX(AtFileDescriptorOfWorkingDirectory, path, 0, StatXType, status) != 0) return null;   // none (or unreadable: the reader or writer says why)
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { return null; }   // a libc before statx (glibc 2.28)
        return (BitConverter.ToUInt16(status, 28) & 0xF000) switch
        {
            0x8000 => null,
            0x2000 => "character device",
            0x6000 => "block device",
            0x1000 => "FIFO",
            0xC000 => "socket",
            _ => "special file",
        };
    }

    const int AtFileDescriptorOfWorkingDirectory = -100;
    const uint StatXType = 1;

    [DllImport("libc", EntryPoint = "statx")]
    static extern int StatX(int directory, string path, int flags, uint mask, byte[] status);

    /// <summary>Refuses a FIFO, device or socket, which reading would wait on for ever (a FIFO given as --weights held predict,
    /// eval and serve: an export audit of session 48).</summary>
    public static void RequireRegular(string path, string what)
    {
        if (NonRegularKind(path) is { } kind)
            throw new InvalidDataException($"{what}: {path} is a {kind}, not a regular file: give the file itself");
    }
}
