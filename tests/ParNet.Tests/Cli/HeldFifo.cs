using System.Diagnostics;
using System.Runtime.InteropServices;

namespace ParNet.Tests.Cli;

/// <summary>
/// A FIFO given to a process under test as a file it reads (its --config; weights refuse a FIFO, which they would read twice,
/// metadata then tensors): once the process has opened it, the
/// test holds its writing end open and writes nothing, so the process waits in its read, for certain, until the test
/// signals it or disposes of this (then its read ends).
/// </summary>
sealed class HeldFifo : IDisposable
{
    [DllImport("libc", SetLastError = true)] static extern int mkfifo(string path, uint mode);
    [DllImport("libc", SetLastError = true)] static extern int open(string path, int flags);
    [DllImport("libc", SetLastError = true)] static extern int close(int fd);
    [DllImport("libc", SetLastError = true)] static extern int kill(int pid, int signal);
    const int WriteOnlyNonBlocking = 0x1 | 0x800;   // O_WRONLY | O_NONBLOCK: fails (ENXIO) until a reader has the FIFO open
    public const int SigInt = 2, SigTerm = 15;

    readonly string _path;
    int _writer = -1;

    public HeldFifo(string path)
    {
        _path = path;
        Assert.Equal(0, mkfifo(path, Convert.ToUInt32("600", 8)));
    }

    /// <summary>Waits until a process has opened the FIFO for reading, then holds it; fails with <paramref name="why"/>'s words
    /// where <paramref name="reader"/> ends first or two minutes pass.</summary>
    public async Task HeldByAsync(Process reader, Func<Task<string>> why)
    {
        for (var waited = Stopwatch.StartNew(); _writer < 0; await Task.Delay(50))
        {
            _writer = open(_path, WriteOnlyNonBlocking);
            Assert.True(_writer >= 0 || (!reader.HasExited && waited.Elapsed < TimeSpan.FromSeconds(120)),
                        $"the FIFO was never opened: {(reader.HasExited ? await why() : "still running")}");
        }
    }

    /// <summary>Waits until <paramref name="count"/> processes other than this one hold the FIFO open (their /proc/PID/fd
    /// links name it): each of several readers then waits in its read, for certain; fails after two minutes.</summary>
    public async Task HeldByProcessesAsync(int count)
    {
        string full = Path.GetFullPath(_path);
        int Holders() => Directory.GetDirectories("/proc").Select(Path.GetFileName)
            .Where(p => int.TryParse(p, out int pid) && pid != Environment.ProcessId)
            .Count(p =>
            {
                try { return Directory.GetFiles($"/proc/{p}/fd").Any(fd => new FileInfo(fd).LinkTarget == full); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }   // ended, or not ours to read
            });
        for (var waited = Stopwatch.StartNew(); Holders() < count; await Task.Delay(100))
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(120), $"fewer than {count} processes opened {full} within two minutes");
    }

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/> (libc's kill).</summary>
    public static void Signal(int pid, int signal) => Assert.Equal(0, kill(pid, signal));

    public void Dispose()
    {
        if (_writer >= 0) close(_writer);
        _writer = -1;
    }
}
