using System.Diagnostics;
using ParNet.Runtime;
using ParNet.Studies;
using ParNet.Tests.Data;

namespace ParNet.Tests.Studies;

/// <summary>A cell folder with no checkpoint is deleted and trained afresh, unless another process holds its lock (a
/// second study training that cell now): deleting it would take that study's lock and files away (untested, note 37).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]   // util-linux's flock(1) holds the lock from another process
public class StudyCellGuardTests
{
    [Fact]
    public void A_cell_folder_another_process_holds_is_refused_naming_the_holder_and_left_as_it_is()
    {
        using var dir = new TempDirectory();
        string cell = Path.Combine(dir.File("runs"), "depth-9", "seed-0"), lockFile = Path.Combine(cell, FolderLock.FileName);
        Directory.CreateDirectory(cell);
        File.WriteAllText(lockFile, "pid 4242 on elsewhere since 2026-12-06 10:00:00 UTC");
        File.WriteAllText(Path.Combine(cell, "metrics.csv"), "the other study's\n");
        var holder = new ProcessStartInfo("flock", ["--nonblock", lockFile, "sleep", "120"]) { UseShellExecute = false };
        using var other = Process.Start(holder)!;
        try
        {
            Assert.True(SpinWait.SpinUntil(() => FolderLock.HolderOf(cell) is not null || other.HasExited, TimeSpan.FromSeconds(10)),
                        "flock(1) did not take the lock");
            Assert.False(other.HasExited, $"flock(1) ended with {(other.HasExited ? other.ExitCode : 0)}");
            var settings = StudySettings.Small with { Seeds = 1, Epochs = 1, SubsetPerClass = 13, TestSubsetPerClass = 1 };
            var e = Assert.Throws<FolderInUseException>(() => StudyRunner.Run(StudyCatalog.Get("depth"), settings, dir.File("runs")));
            Assert.Equal((cell, "pid 4242 on elsewhere since 2026-12-06 10:00:00 UTC"), (e.Folder, e.Holder));
            Assert.Equal("the other study's\n", File.ReadAllText(Path.Combine(cell, "metrics.csv")));
        }
        finally
        {
            if (!other.HasExited) other.Kill();
            other.WaitForExit();
        }
    }
}
