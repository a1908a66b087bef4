using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace ParNet.Runtime;

/// <summary>
/// A run folder one process at a time writes into: <c>flock(2)</c> on FOLDER/.parnet-lock, held until disposed or the process
/// ends (the kernel lets go of it on kill -9 too, so nothing stale is left to clear). Two `parnet train` into one folder
/// (a new run before the first's first checkpoint, or --resume of a run still training, as the refusal of a second new
/// run advised) both wrote there: the first later died on "Directory not empty" between its checkpoint's renames, or both
/// ended with one run's best checkpoint beside the other's last (concurrency audit, session 38). Now the second is refused,
/// naming the process that holds the folder. The same process taking a folder again shares its hold (the run files are
/// written, then the trainer trains). The file stays when the hold ends: removing it would race with a process that has
/// just opened it.
/// </summary>
public sealed class FolderLock : IDisposable
{
    /// <summary>The lock's file in the folder; it holds who took it last ("pid N on HOST since TIME").</summary>
    public const string FileName = ".parnet-lock";

    static readonly Dictionary<string, (SafeFileHandle Handle, int Holders, string? Unlocked)> Held = new(StringComparer.Ordinal);
    readonly string _path;
    bool _released;

    FolderLock(string path, string? unlocked) => (_path, Unlocked) = (path, unlocked);

    /// <summary>Why the folder is held without a lock (null: it is locked): a file system that takes no flock(2) (Lustre
    /// without -o flock, NFS without its lock manager) says so, and the run goes on there unguarded rather than not at all.</summary>
    public string? Unlocked { get; }

    /// <summary>Takes <paramref name="folder"/> (made if missing) for this process; <see cref="FolderInUseException"/> when
    /// another process holds it.</summary>
    public static FolderLock Take(string folder) =>
        TryTake(folder, out string? holder) ?? throw new FolderInUseException(folder, holder!);

    /// <summary>Takes <paramref name="folder"/> (made if missing) for this process, or null with who holds it.</summary>
    public static FolderLock? TryTake(string folder, out string? holder)
    {
        Directory.CreateDirectory(folder);
        string path = Path.GetFullPath(Path.Combine(folder, FileName));
        lock (Held)
        {
            holder = null;
            if (Held.TryGetValue(path, out var held))
            {
                Held[path] = (held.Handle, held.Holders + 1, held.Unlocked);
                return new FolderLock(path, held.Unlocked);
            }
            var handle = OpenLocked(path, out holder, out string? unlocked);
            if (handle is null) return null;
            try
            {
                Write(handle, string.Create(CultureInfo.InvariantCulture,
                    $"pid {Environment.ProcessId} on {Environment.MachineName} since {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC"));
            }
            catch
            {
                handle.Dispose();
                throw;
            }
            Held[path] = (handle, 1, unlocked);
            return new FolderLock(path, unlocked);
        }
    }

    /// <summary>Who holds <paramref name="folder"/> now, another process (null: no one, or this process): a check before
    /// minutes of loading, the hold itself being taken when the folder is written. It only looks (a shared flock, released at
    /// once): the processes of an MPI job may all look at the same moment.</summary>
    public static string? HolderOf(string folder)
    {
        string path = Path.GetFullPath(Path.Combine(folder, FileName));
        if (!File.Exists(path)) return null;   // never held
        lock (Held) if (Held.ContainsKey(path)) return null;
        if (!OperatingSystem.IsLinux())
        {
            try { File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite).Dispose(); return null; }
            catch (IOException) { return "another process"; }
        }
        int fd = OpenFile(path, ReadOnly | CloseOnExec, 0);
        if (fd < 0) return null;   // unreadable: writing the folder will say so
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (Flock(fd, Shared | NoWait) == 0) return null;   // close(2) lets go of it
        return Marshal.GetLastPInvokeError() == WouldBlock ? Read(handle) : null;
    }

    public void Dispose()
    {
        lock (Held)
        {
            if (_released) return;
            _released = true;
            var (handle, holders, unlocked) = Held[_path];
            if (holders > 1) Held[_path] = (handle, holders - 1, unlocked);
            else
            {
                Held.Remove(_path);
                handle.Dispose();   // close(2) ends the flock
            }
        }
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    static extern int OpenFile(string path, int flags, uint mode);

    [DllImport("libc", EntryPoint = "flock", SetLastError = true)]
    static extern int Flock(int fd, int operation);

    const int ReadOnly = 0x0, ReadWrite = 0x2, Create = 0x40, CloseOnExec = 0x80000;   // O_RDONLY, O_RDWR, O_CREAT, O_CLOEXEC (Linux)
    const int Shared = 1, Exclusive = 2, NoWait = 4;   // LOCK_SH, LOCK_EX, LOCK_NB
    const int WouldBlock = 11;   // EWOULDBLOCK
    static readonly int[] NoLocksHere = [37, 38, 95];   // ENOLCK, ENOSYS, EOPNOTSUPP: the file system takes no flock

    /// <summary>The file opened and locked, or null with who holds it. Opened without .NET's FileStream: .NET takes an
    /// advisory lock of its own on open, which would keep a second process from reading who holds the folder.</summary>
    static SafeFileHandle? OpenLocked(string path, out string? holder, out string? unlocked)
    {
        (holder, unlocked) = (null, null);
        if (!OperatingSystem.IsLinux())   // elsewhere .NET's FileShare.None is the lock, and the holder goes unnamed
        {
            try { return File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) when (File.Exists(path)) { holder = "another process"; return null; }
        }
        int fd = OpenFile(path, ReadWrite | Create | CloseOnExec, Convert.ToUInt32("666", 8));   // less the umask
        if (fd < 0) throw new IOException($"{path}: cannot be opened ({Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())})");
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (Flock(fd, Exclusive | NoWait) == 0) return handle;
        int error = Marshal.GetLastPInvokeError();
        if (NoLocksHere.Contains(error))
        {
            unlocked = $"this file system takes no flock(2) locks ({Marshal.GetPInvokeErrorMessage(error)})";
            return handle;
        }
        if (error != WouldBlock)
        {
            handle.Dispose();
            throw new IOException($"{path}: cannot be locked ({Marshal.GetPInvokeErrorMessage(error)})");
        }
        holder = Read(handle);
        handle.Dispose();
        return null;
    }

    static void Write(SafeFileHandle handle, string text)
    {
        RandomAccess.SetLength(handle, 0);
        RandomAccess.Write(handle, System.Text.Encoding.UTF8.GetBytes(text + "\n"), 0);
    }

    static string Read(SafeFileHandle handle)
    {
        var bytes = new byte[256];
        int n = RandomAccess.Read(handle, bytes, 0);
        string text = System.Text.Encoding.UTF8.GetString(bytes, 0, n).Trim();
        return text.Length > 0 ? text : "a process that has not written its name yet";
    }
}

/// <summary>A folder another process holds (<see cref="FolderLock"/>): a run it is training there.</summary>
public sealed class FolderInUseException(string folder, string holder) : IOException(
    $"{folder}: another process is training in this folder ({holder}; it holds {FolderLock.FileName} there): wait for it to " +
    "end, or give this run another folder")
{
    public string Folder { get; } = folder;
    /// <summary>"pid N on HOST since TIME", as the holder wrote it.</summary>
    public string Holder { get; } = holder;
}
