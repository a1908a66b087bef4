using System.Diagnostics;
using ParNet.Runtime;
using ParNet.Tests.Data;

namespace ParNet.Tests.Runtime;

/// <summary>
/// The run folder's hold (<see cref="FolderLock"/>), against another process holding it: util-linux's flock(1), which takes
/// the same flock(2) on the same file, stands in for a second `parnet train` (concurrency audit, session 38: two trains in
/// one folder mixed their runs or died on "Directory not empty").
/// </summary>
public class FolderLockTests
{
    /// <summary>flock(1) holding FOLDER/.parnet-lock (exclusive) until disposed, as another process would; the file says who
    /// holds it, as ours would.</summary>
    internal static HeldLock HeldElsewhere(string folder, string holder)
    {
        string file = Path.Combine(folder, FolderLock.FileName);
        File.WriteAllText(file, holder + "\n");
        // --close: sleep does not inherit the locked descriptor, so the lock ends with flock(1) itself
        var flock = Process.Start(new ProcessStartInfo("flock", ["--exclusive", "--close", file, "sleep", "60"]) { RedirectStandardError = true })!;
        // held once flock(1) runs sleep: until then a non-blocking try of our own would still get it
        var seen = Stopwatch.StartNew();
        while (FlockFree(file) && seen.Elapsed < TimeSpan.FromSeconds(20)) Thread.Sleep(20);
        Assert.False(FlockFree(file), "flock(1) did not take the file within 20 s");
        return new HeldLock(flock);
    }

    internal sealed class HeldLock(Process flock) : IDisposable
    {
        /// <summary>SIGKILL, as kill -9 of a training: the kernel lets go of the flock.</summary>
        public void Kill()
        {
            if (!flock.HasExited) flock.Kill(entireProcessTree: true);
            flock.WaitForExit();
        }

        public void Dispose()
        {
            Kill();
            flock.Dispose();
        }
    }

    /// <summary>Whether a non-blocking exclusive flock(1) of another process gets <paramref name="file"/> now.</summary>
    static bool FlockFree(string file)
    {
        using var probe = Process.Start(new ProcessStartInfo("flock", ["--nonblock", "--exclusive", file, "true"]) { RedirectStandardError = true })!;
        probe.WaitForExit();
        return probe.ExitCode == 0;
    }

    [Fact]
    public void A_folder_another_process_holds_is_refused_naming_it_and_taken_once_that_process_has_ended()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        Directory.CreateDirectory(run);
        using var other = HeldElsewhere(run, "pid 4242 on elsewhere since 2026-12-05 23:00:00 UTC");
        Assert.Null(FolderLock.TryTake(run, out string? holder));
        Assert.Equal("pid 4242 on elsewhere since 2026-12-05 23:00:00 UTC", holder);
        Assert.Equal(holder, FolderLock.HolderOf(run));
        var e = Assert.Throws<FolderInUseException>(() => FolderLock.Take(run));
        Assert.Equal($"{run}: another process is training in this folder (pid 4242 on elsewhere since 2026-12-05 23:00:00 UTC; it holds " +
                     ".parnet-lock there): wait for it to end, or give this run another folder", e.Message);

        other.Kill();   // SIGKILL: the kernel lets go of the flock, no file to clear
        Assert.Null(FolderLock.HolderOf(run));
        using (var held = FolderLock.Take(run))
            Assert.False(FlockFree(Path.Combine(run, FolderLock.FileName)));
        Assert.True(FlockFree(Path.Combine(run, FolderLock.FileName)));
        // read once let go of (.NET's own reader takes a shared flock; cat(1) reads it at any time)
        Assert.StartsWith($"pid {Environment.ProcessId} on {Environment.MachineName} since ", File.ReadAllText(Path.Combine(run, FolderLock.FileName)));
    }

    [Fact]
    public void The_same_process_shares_its_hold_until_the_last_holder_lets_go_and_a_missing_folder_is_made()
    {
        using var dir = new TempDirectory();
        string run = Path.Combine(dir.Path, "new", "run");
        string file = Path.Combine(run, FolderLock.FileName);
        var first = FolderLock.Take(run);   // the run files' writer
        Assert.True(Directory.Exists(run));
        var second = FolderLock.Take(run);   // then the trainer, in the same process
        Assert.Null(FolderLock.HolderOf(run));   // this process is no other
        first.Dispose();
        first.Dispose();   // twice: still one release
        Assert.False(FlockFree(file));
        second.Dispose();
        Assert.True(FlockFree(file));
        Assert.Null(FolderLock.HolderOf(dir.File("never-made")));
    }
}
