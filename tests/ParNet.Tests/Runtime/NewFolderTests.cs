using ParNet.Runtime;
using ParNet.Tests.Data;

namespace ParNet.Tests.Runtime;

/// <summary>Two trains started in the same second took the same default run folder and trained into it together
/// (environment audit, session 37): each folder is now made by one process alone.</summary>
public class NewFolderTests
{
    [Fact]
    public void A_taken_name_gets_the_next_free_number_and_parents_are_made()
    {
        using var dir = new TempDirectory();
        string path = dir.File("runs/fashion-mnist-20261205-203012");
        Assert.Equal(path, NewFolder.Make(path));
        Assert.Equal(path + "-2", NewFolder.Make(path));
        File.WriteAllText(path + "-3", "a file of that name");
        Assert.Equal(path + "-4", NewFolder.Make(path));
        Assert.True(Directory.Exists(path + "-4"));
    }

    [Fact]
    public void Writers_racing_for_one_name_each_get_a_folder_of_their_own()
    {
        using var dir = new TempDirectory();
        string path = dir.File("runs/same-second");
        var made = new string[16];
        using var start = new Barrier(made.Length);
        var threads = Enumerable.Range(0, made.Length).Select(i => new Thread(() => { start.SignalAndWait(); made[i] = NewFolder.Make(path); })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Equal(made.Length, made.Distinct().Count());
        Assert.Equal(made.Length, Directory.GetDirectories(dir.File("runs")).Length);
    }

    [Fact]
    public void A_folder_that_cannot_be_made_says_why_naming_it()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("file"), "");
        var e = Assert.ThrowsAny<IOException>(() => NewFolder.Make(dir.File("file/run")));   // its parent: .NET's own words
        Assert.Contains(dir.File("file"), e.Message);
        string tooLong = dir.File(new string('r', 256));   // mkdir(2) itself: ENAMETOOLONG, as root too
        var own = Assert.Throws<IOException>(() => NewFolder.Make(tooLong));
        Assert.Equal($"{tooLong}: the folder cannot be made (File name too long)", own.Message);
    }
}
