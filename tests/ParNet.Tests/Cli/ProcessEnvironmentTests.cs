using System.Diagnostics;
using ParNet.Cli;

namespace ParNet.Tests.Cli;

/// <summary>
/// The process in an environment a shell can make (environment audit, session 37). Its stdout or stderr unwritable: a closed stdout
/// (`>&-`) was "parnet info: Access to the path is denied." (exit 2) and stopped a daemon's `serve >&- &` before it
/// listened; /dev/full made predict blame each image ("img0.png: No space left on device"); a closed stderr ended any
/// command that wrote an error or a warning with SIGABRT (exit 134), its error line thrown inside the catch that wrote it.
/// </summary>
public class ProcessEnvironmentTests
{
    static (int Code, string Err) Shell(string tail, params string[] args) => ShellAfter("", tail, args);

    /// <summary>`parnet ARGS TAIL` run by bash after <paramref name="before"/>; its exit code and stderr. The tail is shell
    /// words as written: redirections, or arguments of bytes only bash's $'...' can give.</summary>
    static (int Code, string Err) ShellAfter(string before, string tail, params string[] args)
    {
        string parnet = Path.Combine(AppContext.BaseDirectory, "parnet.dll");
        string command = $"{before} exec dotnet {ShellWords.Quote(parnet)} {string.Join(' ', args.Select(ShellWords.Quote))} {tail}";
        var info = new ProcessStartInfo("bash", ["-c", command]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stderr + stdout.Result);   // with stdout redirected by the shell, anything here is stderr's
    }

    [Theory]
    [InlineData(">/dev/full", "No space left on device")]
    [InlineData(">&-", "it is closed")]
    public void A_command_whose_stdout_cannot_be_written_does_its_work_and_says_so_in_one_line_with_exit_1(string redirection, string why)
    {
        var (code, err) = Shell(redirection, "info", "--model", "parnet_s");
        Assert.True(code == 1, $"exit {code}: {err}");
        Assert.Equal($"parnet info: standard output could not be written ({why}): what the command printed there is lost",
                     Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    /// <summary>Train, study and serve print progress on stdout; their results are files (and HTTP answers): a lost stdout
    /// is a warning there, exit 0 (a daemon's `serve >&- &` exited 1 at every clean shutdown in a first version).</summary>
    [Fact]
    public void A_train_without_its_stdout_warns_and_succeeds_with_its_checkpoint()
    {
        using var dir = new ParNet.Tests.Data.TempDirectory();
        string run = dir.File("run");
        var (code, err) = Shell(">&-", "train", "--subset", "5", "--test-subset", "1", "--epochs", "1", "--warmup", "0", "--width", "8",
                                "--threads", "1", "--out", run);
        Assert.True(code == 0, $"exit {code}: {err}");
        Assert.Equal("parnet train: warning: standard output could not be written (it is closed): what the command printed there is lost " +
                     "(its results are in its files)", Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.True(File.Exists(Path.Combine(run, "checkpoints", "last", "state.json")));
    }

    [Theory]
    [InlineData("2>&-")]
    [InlineData("2>/dev/full")]
    public void An_error_with_stderr_unwritable_keeps_its_exit_code_instead_of_an_abort(string redirection)
    {
        var (code, _) = Shell($"{redirection} >/dev/null", "info", "--model", "no_such_model");
        Assert.Equal(CommandRunner.UsageExitCode, code);   // 134 (SIGABRT) before
    }

    /// <summary>A current folder deleted after the shell entered it: libtorch's oneMKL could not load ("Intel oneMKL FATAL ERROR:
    /// Cannot load .../libtorch_cpu.so", exit 2) and train without --out said "Unable to find the specified file."</summary>
    [Fact]
    public void A_deleted_current_folder_is_said_in_one_line()
    {
        using var dir = new ParNet.Tests.Data.TempDirectory();
        string gone = dir.File("gone");
        var (code, err) = ShellAfter($"mkdir {ShellWords.Quote(gone)} && cd {ShellWords.Quote(gone)} && rmdir {ShellWords.Quote(gone)} &&", "", "info", "--model", "parnet_s");
        Assert.Equal(CommandRunner.UsageExitCode, code);
        Assert.Equal("parnet: the current folder no longer exists (deleted after the shell entered it): cd to one that does",
                     Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    /// <summary>A path of bytes that are not UTF-8 reaches .NET with U+FFFD in their place: `train --out $'DIR/bad\xff\xfename'`
    /// trained into another folder (bad\uFFFD\uFFFDname) than the one named, which `ls` then could not find.</summary>
    [Fact]
    public void An_argument_that_is_not_utf8_is_refused_before_any_work()
    {
        using var dir = new ParNet.Tests.Data.TempDirectory();
        var (code, err) = Shell($"--out {ShellWords.Quote(dir.Path + "/")}$'bad\\xffname'", "train", "--epochs", "1");
        Assert.Equal(CommandRunner.UsageExitCode, code);
        Assert.Equal($"parnet train: '{dir.Path}/bad\uFFFDname' holds bytes that are not UTF-8 (shown as \uFFFD): .NET would use another name " +
                     "than the one given; rename the file or folder (e.g. convmv -f latin1 -t utf8)",
                     Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    /// <summary>A writer whose every write fails, counting the tries.</summary>
    sealed class FailingWriter : TextWriter
    {
        public int Tries;
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;
        public override void Write(char value) { Tries++; throw new IOException("No space left on device"); }
        public override void Write(string? value) { Tries++; throw new IOException("No space left on device"); }
        public override void WriteLine(string? value) { Tries++; throw new IOException("No space left on device"); }
    }

    [Fact]
    public void A_failed_write_is_kept_once_and_later_writes_are_dropped()
    {
        var failing = new FailingWriter();
        var stream = new StandardStream(failing);
        stream.WriteLine("first");
        stream.Write('x');
        stream.Write("more");
        Assert.Equal("No space left on device", stream.Failure);
        Assert.Equal(1, failing.Tries);
        var kept = new StringWriter();
        var healthy = new StandardStream(kept);
        healthy.WriteLine("kept");
        Assert.Null(healthy.Failure);
        Assert.Equal("kept" + Environment.NewLine, kept.ToString());
    }
}
