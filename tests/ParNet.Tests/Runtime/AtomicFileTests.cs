using ParNet.Runtime;
using ParNet.Tests.Data;

namespace ParNet.Tests.Runtime;

public class AtomicFileTests
{
    static void WriteText(string path, string text) => AtomicFile.Write(path, temporary => File.WriteAllText(temporary, text));

    [Fact]
    public void Replaces_a_regular_file_and_leaves_no_temporary_file()
    {
        using var dir = new TempDirectory();
        string path = dir.File("a.txt");
        File.WriteAllText(path, "old");
        WriteText(path, "new");
        Assert.Equal("new", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFileSystemEntries(dir.Path));
    }

    /// <summary>A name the file system takes (255 bytes at most) but too long for the temporary file's 13 more bytes was
    /// refused as "The path ... is too long" (export --out of 243-255 bytes, environment audit, session 37).</summary>
    [Theory]
    [InlineData(250, "c")]
    [InlineData(126, "\u00e9")]   // 252 bytes of 2-byte characters: the cut falls between whole characters
    [InlineData(63, "\U0001F600")]   // 252 bytes of 4-byte characters (two UTF-16 units each)
    public void A_name_as_long_as_the_file_system_takes_is_written(int repeats, string unit)
    {
        using var dir = new TempDirectory();
        string name = string.Concat(Enumerable.Repeat(unit, repeats));
        Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(name), 243, 255);
        string path = dir.File(name);
        WriteText(path, "kept");
        Assert.Equal("kept", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFileSystemEntries(dir.Path));
        string temporary = AtomicFile.TemporaryName(name, ".0123abcd.tmp");
        Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(temporary), 250, 255);
        Assert.EndsWith(".0123abcd.tmp", temporary);
        Assert.StartsWith(temporary[..^".0123abcd.tmp".Length], name);
        Assert.False(char.IsHighSurrogate(temporary[^(".0123abcd.tmp".Length + 1)]));
    }

    [Fact]
    public void Writes_through_a_chain_of_relative_links_and_leaves_the_links()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("real"));
        string target = dir.File("real/a.txt"), link = dir.File("link"), linkToLink = dir.File("link2");
        File.WriteAllText(target, "old");
        File.CreateSymbolicLink(link, "real/a.txt");
        File.CreateSymbolicLink(linkToLink, "link");

        WriteText(linkToLink, "new");
        Assert.Equal("new", File.ReadAllText(target));
        Assert.Equal("symbolic link", TempDirectory.FileKind(linkToLink));
        Assert.Equal("symbolic link", TempDirectory.FileKind(link));
        Assert.Equal("link", new FileInfo(linkToLink).LinkTarget);
        Assert.Equal([target], Directory.GetFileSystemEntries(dir.File("real")));   // its temporary file was beside the target
    }

    [Fact]
    public void A_dangling_link_gets_its_target_written()
    {
        using var dir = new TempDirectory();
        string link = dir.File("link");
        File.CreateSymbolicLink(link, dir.File("later.txt"));
        WriteText(link, "new");
        Assert.Equal("new", File.ReadAllText(dir.File("later.txt")));
        Assert.Equal("symbolic link", TempDirectory.FileKind(link));
    }

    [Fact]
    public void A_fifo_a_link_to_one_and_a_directory_are_refused_untouched_naming_the_given_path()
    {
        using var dir = new TempDirectory();
        string fifo = dir.Fifo("pipe"), link = dir.File("to-pipe"), folder = dir.File("folder");
        File.CreateSymbolicLink(link, fifo);
        Directory.CreateDirectory(folder);
        foreach (var (path, kind) in new[] { (fifo, "FIFO"), (link, "FIFO"), (folder, "directory") })
        {
            bool wrote = false;
            var e = Assert.Throws<IOException>(() => AtomicFile.Write(path, _ => wrote = true));
            Assert.Equal($"{path} is a {kind}, not a regular file; not replaced", e.Message);
            Assert.False(wrote, path);
        }
        Assert.Equal("fifo", TempDirectory.FileKind(fifo));
        Assert.Equal("symbolic link", TempDirectory.FileKind(link));
        Assert.Equal("directory", TempDirectory.FileKind(folder));
        Assert.Equal(3, Directory.GetFileSystemEntries(dir.Path).Length);   // no temporary file
    }

    [Fact]
    public void A_failed_write_names_the_given_path_keeps_its_kind_and_removes_the_temporary_file()
    {
        using var dir = new TempDirectory();
        string path = dir.File("a.bin");
        var io = Assert.Throws<IOException>(() => AtomicFile.Write(path, t =>
        {
            File.WriteAllText(t, "partial");
            throw new IOException($"No space left on device : '{t}'");
        }));
        Assert.Equal($"No space left on device : '{path}'", io.Message);
        Assert.Equal($"{path}: denied", Assert.Throws<UnauthorizedAccessException>(() => AtomicFile.Write(path, _ => throw new UnauthorizedAccessException("denied"))).Message);
        var bug = new InvalidOperationException("a bug");   // not an I/O failure: passes through as it is
        Assert.Same(bug, Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, t => { File.WriteAllText(t, "x"); throw bug; })));
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    /// <summary>`export --out FILE/x.onnx` said only ".NET: The file 'FILE' already exists." (walk D, session 28).</summary>
    [Fact]
    public void A_file_where_a_folder_of_the_path_should_be_is_named_as_such()
    {
        using var dir = new TempDirectory();
        string file = dir.File("a-file"), path = Path.Combine(file, "sub", "x.onnx");
        File.WriteAllText(file, "x");
        var e = Assert.Throws<IOException>(() => WriteText(path, "new"));
        Assert.Equal($"{path}: its folder cannot be made: {file} is a file, not a folder", e.Message);
        Assert.Equal("x", File.ReadAllText(file));
    }

    /// <summary>`export --out /proc/x.onnx` said "Could not find file '/proc/x.onnx'", of a folder that exists (walk of
    /// session 34).</summary>
    [Fact]
    public void A_folder_that_takes_no_new_files_is_named_as_such()
    {
        Assert.True(Directory.Exists("/proc"), "this test needs Linux's /proc");
        var e = Assert.Throws<IOException>(() => WriteText("/proc/parnet-x.onnx", "new"));
        Assert.Equal("/proc/parnet-x.onnx: /proc takes no new files (a system folder such as /proc or /sys); write elsewhere", e.Message);
    }

    /// <summary>Both wrote one temporary file TARGET.tmp: the second writer found it open ("being used by another process")
    /// or the first one's cleanup deleted it, and both failed with nothing written (`mpiexec -n 2 parnet convert`, walk C).</summary>
    [Fact]
    public async Task Two_writers_of_one_file_at_once_both_succeed_and_the_last_rename_wins()
    {
        using var dir = new TempDirectory();
        string path = dir.File("a.bin");
        using var firstHalfWritten = new ManualResetEventSlim();
        using var secondDone = new ManualResetEventSlim();
        var first = Task.Run(() => AtomicFile.Write(path, temporary =>
        {
            using var f = new FileStream(temporary, FileMode.Create, FileAccess.Write);
            f.Write("fir"u8);
            f.Flush();
            firstHalfWritten.Set();
            Assert.True(secondDone.Wait(TimeSpan.FromSeconds(30)));
            f.Write("st"u8);
        }));
        Assert.True(firstHalfWritten.Wait(TimeSpan.FromSeconds(30)));
        try { WriteText(path, "second"); }
        finally { secondDone.Set(); }
        Assert.Equal("second", File.ReadAllText(path));
        await first.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("first", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFileSystemEntries(dir.Path));
    }

    /// <summary>The check before long work: it fails as a write would, makes the folder, and leaves no file and the target as it was.</summary>
    [Fact]
    public void Requiring_a_writable_path_fails_as_a_write_would_and_leaves_nothing_behind()
    {
        using var dir = new TempDirectory();
        string file = dir.File("a-file"), path = Path.Combine(file, "x.onnx");
        File.WriteAllText(file, "x");
        Assert.Equal($"{path}: its folder cannot be made: {file} is a file, not a folder", Assert.Throws<IOException>(() => AtomicFile.RequireWritable(path)).Message);
        Assert.Equal("/proc/parnet-x.onnx: /proc takes no new files (a system folder such as /proc or /sys); write elsewhere",
                     Assert.Throws<IOException>(() => AtomicFile.RequireWritable("/proc/parnet-x.onnx")).Message);
        Assert.Equal($"{dir.Path} is a directory, not a regular file; not replaced", Assert.Throws<IOException>(() => AtomicFile.RequireWritable(dir.Path)).Message);
        string deep = Path.Combine(dir.Path, "new", "x.onnx");
        AtomicFile.RequireWritable(deep);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(dir.Path, "new")));
        AtomicFile.RequireWritable(file);
        Assert.Equal("x", File.ReadAllText(file));
        Assert.Equal(2, Directory.GetFileSystemEntries(dir.Path).Length);
    }
}
