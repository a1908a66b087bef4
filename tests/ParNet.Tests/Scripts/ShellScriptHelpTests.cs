using System.Diagnostics;

namespace ParNet.Tests.Scripts;

/// <summary>
/// Every shell script of scripts/, bench/ and fuzz/ answers --help with its header comment and exit 0, and refuses an
/// argument it does not know with exit 2, at once and before doing anything: several start long or system-changing work
/// (the main job's install and 12-minute training, apt-get, npm ci, GPU builds, AFL++). Each runs with bash from an empty
/// folder, named by a relative path through a link there to the repository (REPO/scripts/x.sh: a script that reads "$0"
/// for its help after its cd to the repository root finds nothing there), with PATH led by stubs of the commands
/// that work would run (apt-get, sudo, npm, dotnet, ...), which leave a mark and fail: no stub may be called, nothing may
/// appear in the folder, the repository's top level, runs/, results/, build/ or /tmp/parnet-gpu.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]   // bash scripts, and shell-script stubs
public class ShellScriptHelpTests
{
    static readonly string[] Folders = ["scripts", "bench", "fuzz"];
    static readonly string[] Stubbed = ["apt-get", "sudo", "npm", "node", "dotnet", "nvidia-smi", "afl-fuzz", "sharpfuzz", "wrk", "curl", "python3", "xz"];
    const int KillAfterMs = 15_000;   // a hang guard, not a speed check: how fast a script refuses is not asserted here

    public static TheoryData<string> Scripts()
    {
        var data = new TheoryData<string>();
        foreach (var folder in Folders)
            foreach (var path in Directory.GetFiles(Repository.Path(folder), "*.sh").Order(StringComparer.Ordinal))
                data.Add($"{folder}/{System.IO.Path.GetFileName(path)}");
        return data;
    }

    sealed record Result(int Code, string Stdout, string Stderr, string[] StubsCalled, string[] LeftInFolder, string[] Before, string[] After);

    /// <summary>What a script could create: the entries of these folders (or that one is absent).</summary>
    static string[] Snapshot()
    {
        string[] watched = [Repository.Root, Repository.Path("runs"), Repository.Path("results"), Repository.Path("results", "frontier"),
            Repository.Path("results", "gpu"), Repository.Path("build"), "/tmp/parnet-gpu"];
        return watched.SelectMany<string, string>(dir => Directory.Exists(dir)
            ? Directory.EnumerateFileSystemEntries(dir).Order(StringComparer.Ordinal)
            : new[] { dir + " (absent)" }).ToArray();
    }

    static Result Run(string script, params string[] arguments)
    {
        var temp = Directory.CreateTempSubdirectory("parnet-script-help-");
        string link = System.IO.Path.Combine(temp.FullName, "work", "REPO");
        try
        {
            string work = Directory.CreateDirectory(System.IO.Path.Combine(temp.FullName, "work")).FullName;
            string stubs = Directory.CreateDirectory(System.IO.Path.Combine(temp.FullName, "stubs")).FullName;
            string marks = System.IO.Path.Combine(temp.FullName, "stub-calls");
            foreach (var name in Stubbed)
            {
                string stub = System.IO.Path.Combine(stubs, name);
                File.WriteAllText(stub, $"#!/bin/sh\necho \"{name} $*\" >> '{marks}'\nexit 97\n");
                File.SetUnixFileMode(stub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            var start = new ProcessStartInfo("bash") { WorkingDirectory = work, RedirectStandardOutput = true, RedirectStandardError = true };
            Directory.CreateSymbolicLink(link, Repository.Root);
            start.ArgumentList.Add("REPO/" + script);
            foreach (var argument in arguments) start.ArgumentList.Add(argument);
            start.Environment["PATH"] = stubs + ":" + Environment.GetEnvironmentVariable("PATH");
            foreach (var setting in new[] { "RUN_DIR", "OUT", "TRAIN_ARGS", "EPOCHS", "WIDTH", "TIME_BUDGET", "TARGETS", "SECONDS_PER_TARGET", "RSS_ONLY" })
                start.Environment.Remove(setting);

            var before = Snapshot();
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();   // both pipes drained at once: a full one would block the script
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(KillAfterMs))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                Assert.Fail($"{script} {string.Join(' ', arguments)} was still running after {KillAfterMs / 1000} s (killed); stderr: {stderr.Result}");
            }
            process.WaitForExit();   // the redirected output read to its end
            return new Result(process.ExitCode, stdout.Result, stderr.Result,
                File.Exists(marks) ? File.ReadAllLines(marks) : [],
                Directory.GetFileSystemEntries(work).Select(e => System.IO.Path.GetFileName(e)).Where(e => e != "REPO").ToArray(), before, Snapshot());
        }
        finally
        {
            if (File.Exists(link) || Directory.Exists(link)) File.Delete(link);   // unlink: the link, never the repository behind it
            temp.Delete(recursive: true);
        }
    }

    static void AssertNothingDone(string script, Result r)
    {
        Assert.True(r.StubsCalled.Length == 0, $"{script} ran: {string.Join("; ", r.StubsCalled)}");
        Assert.Empty(r.LeftInFolder);
        Assert.Equal(r.Before, r.After);
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    public void Help_prints_the_header_and_exits_0_at_once_doing_nothing(string script)
    {
        var r = Run(script, "--help");
        Assert.True(r.Code == 0, $"{script} --help: exit {r.Code}; stderr: {r.Stderr}");
        AssertNothingDone(script, r);
        // the whole header (the comment lines after the #! line, up to the first other line), without their "# "
        var header = File.ReadLines(Repository.Path(script)).Skip(1).TakeWhile(line => line.StartsWith('#'))
            .Select(line => line.StartsWith("# ") ? line[2..] : line[1..]).ToList();
        Assert.True(header.Count > 1, $"{script}: a header of {header.Count} line(s)");
        Assert.Equal(string.Join("\n", header) + "\n", r.Stdout);
        Assert.Equal("", r.Stderr);
    }

    /// <summary>Each script's one line for `--no-such-option`, as it prints it (a new script needs its line here).</summary>
    static readonly Dictionary<string, string> Refusals = new()
    {
        ["scripts/cpu-frontier.sh"] = "cpu-frontier: unknown option --no-such-option (see --help)",
        ["scripts/finetune-demo.sh"] = "finetune-demo: no arguments (settings are PRETRAIN_EPOCHS, SEEDS and OUT in the environment; see --help)",
        ["scripts/gpu-bench.sh"] = "gpu-bench: no arguments (the time limit is GPU_BENCH_SECONDS in the environment; see --help)",
        ["scripts/gpu-device.sh"] = "usage: bash scripts/gpu-device.sh pytorch|dotnet|cli (see --help)",
        ["scripts/gpu-pack.sh"] = "gpu-pack: unknown argument --no-such-option (usage: bash scripts/gpu-pack.sh --pytorch-code DIR [--onnx M.onnx]; see --help)",
        ["scripts/install-browser-test.sh"] = "install-browser-test: no arguments (see --help)",
        ["scripts/install-data.sh"] = "install-data: no arguments (see --help)",
        ["scripts/main-job.sh"] = "main-job: no arguments; settings are environment variables, see --help",
        ["scripts/serve-bench.sh"] = "serve-bench: unknown option --no-such-option (usage: scripts/serve-bench.sh FASHION_WEIGHTS [SECONDS_PER_CELL]; see --help)",
        ["bench/onednn-conv-split.sh"] = "onednn-conv-split: unknown option --no-such-option (see --help)",
        ["fuzz/run.sh"] = "fuzz/run.sh: no arguments (settings are SECONDS_PER_TARGET, TARGETS and OUT in the environment; see --help)",
    };

    [Theory]
    [MemberData(nameof(Scripts))]
    public void An_unknown_argument_exits_2_at_once_doing_nothing(string script)
    {
        var r = Run(script, "--no-such-option");
        Assert.True(r.Code == 2, $"{script} --no-such-option: exit {r.Code}; stderr: {r.Stderr}");
        AssertNothingDone(script, r);
        Assert.Equal("", r.Stdout);
        Assert.True(Refusals.TryGetValue(script, out var refusal), $"{script}: no expected refusal listed; it printed: {r.Stderr}");
        Assert.Equal(refusal + "\n", r.Stderr);   // the script's name and the option (or that it takes none), pointing at the help
    }

    [Fact]
    public void The_main_job_refuses_any_argument_with_its_one_line()
    {
        var r = Run("scripts/main-job.sh", "8");   // e.g. epochs given as an argument: they are EPOCHS in the environment
        Assert.Equal(2, r.Code);
        AssertNothingDone("scripts/main-job.sh", r);
        Assert.Equal("main-job: no arguments; settings are environment variables, see --help\n", r.Stderr);
    }

    /// <summary>An option given last without its value, or serve-bench.sh without its weights, went through bash's
    /// ${N:?message}: exit 1 (not a usage error's 2) and the message behind "SCRIPT: line N: 2: ".</summary>
    [Theory]
    [InlineData("scripts/cpu-frontier.sh", "--out", "cpu-frontier: --out needs a folder (see --help)")]
    [InlineData("scripts/cpu-frontier.sh", "--pytorch-code", "cpu-frontier: --pytorch-code needs a folder (see --help)")]
    [InlineData("scripts/gpu-pack.sh", "--onnx", "gpu-pack: --onnx needs a file (see --help)")]
    [InlineData("scripts/gpu-pack.sh", "--pytorch-code", "gpu-pack: --pytorch-code needs a folder (see --help)")]
    [InlineData("bench/onednn-conv-split.sh", "--threads", "onednn-conv-split: --threads needs a number (see --help)")]
    [InlineData("bench/onednn-conv-split.sh", "--cli", "onednn-conv-split: --cli needs the parnet command (see --help)")]
    [InlineData("scripts/serve-bench.sh", null, "serve-bench: FASHION_WEIGHTS is required (usage: scripts/serve-bench.sh FASHION_WEIGHTS [SECONDS_PER_CELL]; see --help)")]
    public void A_missing_value_exits_2_with_the_scripts_own_line(string script, string? option, string refusal)
    {
        var r = option is null ? Run(script) : Run(script, option);
        Assert.True(r.Code == 2, $"{script} {option}: exit {r.Code}; stderr: {r.Stderr}");
        AssertNothingDone(script, r);
        Assert.Equal(refusal + "\n", r.Stderr);
    }
}
