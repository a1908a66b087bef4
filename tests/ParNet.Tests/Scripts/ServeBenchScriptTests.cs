using System.Diagnostics;
using static ParNet.Tests.Scripts.ProcessSignals;

namespace ParNet.Tests.Scripts;

/// <summary>
/// scripts/serve-bench.sh as a user runs it, with PATH led by stubs of what it starts: `dotnet` (the server: prints the
/// line `parnet serve` prints, then sleeps as a server would), `curl` (answers every request) and `wrk` (records its
/// arguments and its PID, then runs on as the RSS run's hour-long client does). The first cell (wrk in the foreground) or, with
/// RSS_ONLY=1, the memory run (wrk in the background) is where the tests look.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]   // bash scripts, and shell-script stubs
public class ServeBenchScriptTests
{
    sealed class Stubbed : IDisposable
    {
        public readonly DirectoryInfo Temp = Directory.CreateTempSubdirectory("parnet-serve-bench-");
        public string Marks => Path.Combine(Temp.FullName, "calls");
        public Process Script = null!;
        public Task<string> Stderr = null!;

        /// <summary>Starts the script; <paramref name="dotnet"/> is the body of the dotnet stub's `serve` case.</summary>
        public Stubbed(string dotnet, bool rssOnly)
        {
            string stubs = Directory.CreateDirectory(Path.Combine(Temp.FullName, "stubs")).FullName;
            void Stub(string name, string body)
            {
                string stub = Path.Combine(stubs, name);
                File.WriteAllText(stub, $"#!/bin/sh\n{body}\n");
                File.SetUnixFileMode(stub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            Stub("dotnet", $"case \" $* \" in *\" serve \"*) echo \"serve $$ $*\" >> '{Marks}'; {dotnet} ;; *) exit 0 ;; esac");
            Stub("curl", "exit 0");
            Stub("wrk", $"echo \"wrk $$ $*\" >> '{Marks}'; exec sleep 600");
            string weights = Path.Combine(Temp.FullName, "fashion weights.safetensors");   // a path with a space
            File.WriteAllText(weights, "");

            var start = new ProcessStartInfo("bash") { WorkingDirectory = Temp.FullName, RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(Repository.Path("scripts", "serve-bench.sh"));
            start.ArgumentList.Add(weights);
            start.Environment["PATH"] = stubs + ":" + Environment.GetEnvironmentVariable("PATH");
            if (rssOnly) start.Environment["RSS_ONLY"] = "1"; else start.Environment.Remove("RSS_ONLY");
            Script = Process.Start(start)!;
            _ = Script.StandardOutput.ReadToEndAsync();
            Stderr = Script.StandardError.ReadToEndAsync();
        }

        public string[] Calls(string name) =>
            File.Exists(Marks) ? File.ReadAllLines(Marks).Where(l => l.StartsWith(name + " ")).ToArray() : [];

        /// <summary>Waits until wrk was started or the script ended.</summary>
        public void WaitForWrk()
        {
            var watch = Stopwatch.StartNew();
            while (Calls("wrk").Length == 0 && !Script.HasExited && watch.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(100);
        }

        public int[] Pids(string name) => Calls(name).Select(l => int.Parse(l.Split(' ')[1])).ToArray();

        public void Dispose()
        {
            foreach (var pid in Pids("wrk").Concat(Pids("serve"))) kill(pid, SigKill);   // what the test started, by its PID
            if (!Script.HasExited) Script.Kill(entireProcessTree: true);
            Script.WaitForExit();
            Temp.Delete(recursive: true);
        }
    }

    /// <summary>SIGTERM (a `timeout`, a CI job's end) during the RSS run ended the script and its server, but left its wrk
    /// client hammering the port for up to an hour (-d3600s), and its temporary file behind.</summary>
    [Fact]
    public async Task Sigterm_leaves_no_server_and_no_wrk_client_running()
    {
        using var run = new Stubbed("echo \"listening on http://127.0.0.1:40001/ (warming up; GET /readyz)\"; exec sleep 600", rssOnly: true);
        run.WaitForWrk();
        string stderr = run.Script.HasExited ? await run.Stderr : "";
        Assert.True(run.Calls("wrk").Length == 1, $"wrk was not started; stderr: {stderr}");
        Assert.Equal(0, kill(run.Script.Id, SigTerm));
        Assert.True(run.Script.WaitForExit(10_000), "serve-bench.sh did not exit within 10 s of SIGTERM");
        Thread.Sleep(500);
        Assert.All(run.Pids("serve"), pid => Assert.False(Alive(pid), $"the server stub {pid} still runs"));
        Assert.All(run.Pids("wrk"), pid => Assert.False(Alive(pid), $"the wrk client {pid} still runs after serve-bench.sh ended"));
    }

    /// <summary>The server was started on the fixed port 18080 and "ready" meant that something there answered /readyz:
    /// with a second run (or any server) on that port, this run's server failed to bind and the other one was measured.</summary>
    [Fact]
    public async Task Only_its_own_server_is_measured_when_another_holds_the_port()
    {
        using var run = new Stubbed(
            "case \" $* \" in *\" --port 18080 \"*) echo 'Failed to bind to address http://127.0.0.1:18080: address already in use.' >&2; exit 1 ;; esac; "
            + "echo \"listening on http://127.0.0.1:40001/ (warming up; GET /readyz)\"; exec sleep 600", rssOnly: false);
        run.WaitForWrk();
        var wrk = run.Calls("wrk");
        string stderr = run.Script.HasExited ? await run.Stderr : "";
        Assert.True(wrk.Length == 1, $"wrk was not started; stderr: {stderr}");
        Assert.EndsWith(" http://127.0.0.1:40001", wrk[0]);   // the address its own server printed
    }
}
