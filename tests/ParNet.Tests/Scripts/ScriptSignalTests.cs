using System.Diagnostics;
using static ParNet.Tests.Scripts.ProcessSignals;

namespace ParNet.Tests.Scripts;

/// <summary>
/// The long-running scripts under SIGTERM sent to the script's PID alone (timeout(1), a supervisor), as a user runs them,
/// with PATH led by a stub `dotnet` whose long step records its arguments and PID, then sleeps until SIGTERM, leaves a mark
/// and exits 143 as `parnet train` does. Bash without a trap died and left the step running, orphaned, writing on.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]   // bash scripts, and shell-script stubs
public class ScriptSignalTests
{
    /// <summary>The body of a stub step that sleeps until SIGTERM: marks "NAME PID SLEEP-PID ARGS" once its trap is set,
    /// and "term PID" when the signal comes, then exits 143.</summary>
    static string SleepsUntilTerm(string name, string marks) =>
        $"trap 'echo \"term $$\" >> \"{marks}\"; kill $s; exit 143' TERM; sleep 600 & s=$!; echo \"{name} $$ $s $*\" >> \"{marks}\"; wait; exit 1";

    sealed class Stubbed : IDisposable
    {
        public readonly DirectoryInfo Temp = Directory.CreateTempSubdirectory("parnet-script-signal-");
        public string Marks => Path.Combine(Temp.FullName, "calls");
        public Process Script = null!;
        public Task<string> Stdout = null!, Stderr = null!;

        /// <summary>Starts bash SCRIPT ARGS with PATH led by a `dotnet` stub (<paramref name="dotnet"/>: its body, given
        /// the marks file) and stubs of apt-get and sudo (scripts/install-data.sh where the data is missing), and of
        /// `python3` where <paramref name="python3"/> gives its body.</summary>
        public Stubbed(Func<string, string> dotnet, string script, string[] arguments, Dictionary<string, string?> environment,
                       Func<string, string>? python3 = null)
        {
            string stubs = Directory.CreateDirectory(Path.Combine(Temp.FullName, "stubs")).FullName;
            void Stub(string name, string body)
            {
                string stub = Path.Combine(stubs, name);
                File.WriteAllText(stub, $"#!/bin/sh\n{body}\n");
                File.SetUnixFileMode(stub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            Stub("dotnet", dotnet(Marks));
            Stub("apt-get", "exit 0");
            Stub("sudo", "exec \"$@\"");
            if (python3 is not null) Stub("python3", python3(Marks));

            var start = new ProcessStartInfo("bash") { WorkingDirectory = Temp.FullName, RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(Repository.Path("scripts", script));
            foreach (var argument in arguments) start.ArgumentList.Add(argument);
            start.Environment["PATH"] = stubs + ":" + Environment.GetEnvironmentVariable("PATH");
            foreach (var (name, value) in environment)
                if (value is null) start.Environment.Remove(name); else start.Environment[name] = value;
            Script = Process.Start(start)!;
            Stdout = Script.StandardOutput.ReadToEndAsync();
            Stderr = Script.StandardError.ReadToEndAsync();
        }

        public string[] Calls(string name) =>
            File.Exists(Marks) ? File.ReadAllLines(Marks).Where(l => l.StartsWith(name + " ")).ToArray() : [];

        /// <summary>Waits until the stub step NAME runs (its trap set) or the script ended.</summary>
        public void WaitFor(string name)
        {
            var watch = Stopwatch.StartNew();
            while (Calls(name).Length == 0 && !Script.HasExited && watch.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(100);
            Assert.True(Calls(name).Length == 1, $"the {name} step was not started; stderr: {(Script.HasExited ? Stderr.Result : "")}");
        }

        /// <summary>SIGTERM to the script's PID alone; returns its exit code.</summary>
        public int Terminate()
        {
            Assert.Equal(0, kill(Script.Id, SigTerm));
            Assert.True(Script.WaitForExit(15_000), "the script did not exit within 15 s of SIGTERM");
            return Script.ExitCode;   // not WaitForExit(): a step left running holds the script's output open
        }

        /// <summary>SIGTERM to the script's PID alone while its stub step NAME runs; asserts the step got the signal and is
        /// gone; returns the script's exit code and stderr.</summary>
        public (int Code, string Stderr) TerminateDuring(string name)
        {
            WaitFor(name);
            int code = Terminate();
            Thread.Sleep(300);   // the step's trap writes its mark as it exits
            int step = Pids(name)[0];
            bool signalled = File.ReadAllLines(Marks).Contains($"term {step}"), alive = Alive(step);
            KillStubs();
            string stderr = Stderr.Result;
            Assert.True(signalled, $"the {name} step got no SIGTERM; stderr: {stderr}");
            Assert.False(alive, $"the {name} step still ran after the script ended");
            return (code, stderr);
        }

        /// <summary>Ends the stub steps still running (an orphan holds the script's output open), by their PIDs.</summary>
        public void KillStubs()
        {
            foreach (var line in File.Exists(Marks) ? File.ReadAllLines(Marks) : [])
                foreach (var pid in line.Split(' ').Skip(1).Take(2).Select(p => int.TryParse(p, out int n) ? n : 0).Where(n => n > 1))
                    kill(pid, SigKill);
        }

        /// <summary>The PIDs of the stub step NAME and of its sleep.</summary>
        public int[] Pids(string name) =>
            Calls(name).SelectMany(l => l.Split(' ').Skip(1).Take(2)).Select(int.Parse).ToArray();

        public void Dispose()
        {
            KillStubs();
            if (!Script.HasExited) Script.Kill(entireProcessTree: true);
            Script.WaitForExit();
            Temp.Delete(recursive: true);
        }
    }

    // ---- scripts/main-job.sh ----

    /// <summary>The main job's dotnet stub: `train` runs <paramref name="train"/>, `eval` prints a result line, the rest
    /// (the build) succeeds.</summary>
    static Func<string, string> MainJobDotnet(Func<string, string> train) => marks =>
        $"case \" $* \" in\n"
        + $"  *\" train \"*) {train(marks)} ;;\n"
        + $"  *\" eval \"*) echo \"eval $$ $*\" >> \"{marks}\"; echo 'eval: top-1 93.50% top-5 99.80% (10000 test images)' ;;\n"
        + "  *) exit 0 ;;\nesac";

    static Stubbed MainJob(Func<string, string> train, string runDir) =>
        new(MainJobDotnet(train), "main-job.sh", [], new()
        {
            ["RUN_DIR"] = runDir, ["EPOCHS"] = null, ["WIDTH"] = null, ["TIME_BUDGET"] = null, ["TRAIN_ARGS"] = null,
        });

    /// <summary>SIGTERM to main-job.sh (`timeout 600 bash scripts/main-job.sh`) killed bash alone: `dotnet run ... train`
    /// ran on as an orphan, writing the run folder, and nobody was told how to continue.</summary>
    [Fact]
    public void Main_job_passes_sigterm_to_training_waits_and_says_how_to_resume()
    {
        string runDir = Path.Combine(Path.GetTempPath(), $"parnet-main-job-run-{Guid.NewGuid():N}");   // never made: the stub does not
        using var run = MainJob(marks => SleepsUntilTerm("train", marks), runDir);
        var (code, stderr) = run.TerminateDuring("train");
        Assert.Equal(143, code);
        Assert.Contains($"main-job: stopped; continue the run with: parnet train --resume {runDir}\n", stderr);
        Assert.Empty(run.Calls("eval"));
    }

    /// <summary>A run that is not interrupted prints what it printed before: the eval lines (also in RUN_DIR/eval.txt)
    /// and the summary line, and exits 0.</summary>
    [Fact]
    public async Task Main_job_uninterrupted_evaluates_and_summarises_as_before()
    {
        // the stub makes the run folder as `parnet train --out DIR` does; RUN_DIR given relative is the caller's
        using var run = MainJob(_ => "while [ $# -gt 0 ]; do [ \"$1\" = --out ] && mkdir -p \"$2\"; shift; done; exit 0", "run");
        string runDir = Path.Combine(run.Temp.FullName, "run");
        Assert.True(run.Script.WaitForExit(60_000), "main-job.sh did not end");
        run.Script.WaitForExit();
        string stdout = await run.Stdout, stderr = await run.Stderr;
        Assert.True(run.Script.ExitCode == 0, $"exit {run.Script.ExitCode}; stderr: {stderr}");
        Assert.Contains("eval: top-1 93.50% top-5 99.80% (10000 test images)\nmain job: Fashion-MNIST test accuracy 93.50%, total time 0m", stdout);
        Assert.EndsWith($", run folder {runDir}\n", stdout);
        Assert.Equal("eval: top-1 93.50% top-5 99.80% (10000 test images)\n", File.ReadAllText(Path.Combine(runDir, "eval.txt")));
        Assert.DoesNotContain("stopped", stderr);
    }

    /// <summary>A training that fails ends the script with its exit code, before the eval, as before.</summary>
    [Fact]
    public async Task Main_job_failed_training_exits_with_its_code()
    {
        using var run = MainJob(_ => "exit 3", "run");
        Assert.True(run.Script.WaitForExit(60_000), "main-job.sh did not end");
        run.Script.WaitForExit();
        Assert.Equal(3, run.Script.ExitCode);
        Assert.Empty(run.Calls("eval"));
        Assert.DoesNotContain("stopped", await run.Stderr);
    }

    // ---- scripts/cpu-frontier.sh ----

    /// <summary>cpu-frontier.sh with its first step (`parnet bench`) sleeping until SIGTERM; --out <paramref name="output"/>.</summary>
    static Stubbed Frontier(string output, string code) =>
        new(marks => $"case \" $* \" in\n  *\" bench \"*) {SleepsUntilTerm("bench", marks)} ;;\n  *) exit 0 ;;\nesac",
            "cpu-frontier.sh", ["--pytorch-code", code, "--out", output], new());

    /// <summary>cpu-frontier.sh whose steps all succeed at once and whose summary (`python3 -c PROGRAM OUT`) runs
    /// <paramref name="summary"/>.</summary>
    static Stubbed FrontierToSummary(string output, string code, Func<string, string> summary) =>
        new(_ => "exit 0", "cpu-frontier.sh", ["--pytorch-code", code, "--out", output], new(), python3: summary);

    /// <summary>The folders a cpu-frontier.sh test gives it: an empty --pytorch-code DIR and an --out path (not made), both
    /// removed at the end. Skips where /usr/bin/python3 has no torch: the script checks for it before any step (its
    /// reference rows need it).</summary>
    sealed class FrontierFolders : IDisposable
    {
        public readonly string Code, Output;

        public FrontierFolders()
        {
            Skip.IfNot(PythonScript.DebianTorch(), "/usr/bin/python3 has no torch: cpu-frontier.sh refuses to start without it (apt-get install python3-torch)");
            Code = Directory.CreateTempSubdirectory("parnet-frontier-code-").FullName;
            Output = Path.Combine(Path.GetTempPath(), $"parnet-frontier-out-{Guid.NewGuid():N}");
        }

        public void Dispose()
        {
            Directory.Delete(Code, recursive: true);
            if (Directory.Exists(Output)) Directory.Delete(Output, recursive: true);
        }
    }

    /// <summary>SIGTERM to cpu-frontier.sh (pid alone) left its step running, and the partial results folder it had made
    /// in results/frontier/ (walk H, session 29): the step gets SIGTERM, the folder this run made goes, a folder that
    /// was there before stays.</summary>
    [SkippableTheory, InlineData(false), InlineData(true)]
    public void Frontier_passes_sigterm_to_its_step_and_takes_back_only_a_folder_it_made(bool existedBefore)
    {
        using var folders = new FrontierFolders();
        string output = folders.Output;
        if (existedBefore) { Directory.CreateDirectory(output); File.WriteAllText(Path.Combine(output, "earlier.txt"), "kept"); }
        using var run = Frontier(output, folders.Code);
        var (exit, stderr) = run.TerminateDuring("bench");
        Assert.Equal(143, exit);
        if (existedBefore)
        {
            Assert.Contains($"cpu-frontier: stopped; {output} existed before and is left as it is", stderr);
            Assert.Equal("kept", File.ReadAllText(Path.Combine(output, "earlier.txt")));
        }
        else
        {
            Assert.Contains($"cpu-frontier: stopped; removed {output}, which this run made", stderr);
            Assert.False(Directory.Exists(output));
        }
    }

    /// <summary>A SIGTERM while the summary ran (python, in the foreground) waited for it and then took the folder back
    /// (noticed in session 29): the summary is a step like the others, stopped with the run.</summary>
    [SkippableFact]
    public void Frontier_stopped_during_its_summary_stops_the_summary_and_takes_back_its_folder()
    {
        using var folders = new FrontierFolders();
        using var run = FrontierToSummary(folders.Output, folders.Code, marks => "set --; " + SleepsUntilTerm("summary", marks));   // its marks without the program text
        var (exit, stderr) = run.TerminateDuring("summary");
        Assert.Equal(143, exit);
        Assert.Contains($"cpu-frontier: stopped; removed {folders.Output}, which this run made", stderr);
        Assert.False(Directory.Exists(folders.Output));
    }

    /// <summary>A complete run writes the summary's output to OUT/summary.md and prints it, and keeps the folder.</summary>
    [SkippableFact]
    public void Frontier_complete_writes_and_prints_its_summary_and_keeps_the_folder()
    {
        using var folders = new FrontierFolders();
        string output = folders.Output;
        // the stub prints its first argument after -c's program: the results folder, as the real summary reads it
        using var run = FrontierToSummary(output, folders.Code, _ => "[ \"$1\" = -c ] && echo \"| summary of $3 |\"");
        Assert.True(run.Script.WaitForExit(60_000), "cpu-frontier.sh did not end");
        run.Script.WaitForExit();
        Assert.True(run.Script.ExitCode == 0, $"exit {run.Script.ExitCode}; stderr: {run.Stderr.Result}");
        Assert.Equal($"| summary of {output} |\n", File.ReadAllText(Path.Combine(output, "summary.md")));
        Assert.EndsWith($"| summary of {output} |\n", run.Stdout.Result);
        Assert.EndsWith($"cpu-frontier: everything is in {output}\n", run.Stderr.Result);
    }
}
