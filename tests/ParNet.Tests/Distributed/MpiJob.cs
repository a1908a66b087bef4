using System.Diagnostics;

namespace ParNet.Tests.Distributed;

/// <summary>
/// Runs the built `parnet` as real processes: alone, or under MPICH's mpiexec (which .ci/run installs with apt).
/// </summary>
static class MpiJob
{
    static string Parnet => Path.Combine(AppContext.BaseDirectory, "parnet.dll");

    public static Process Start(string fileName, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        return Process.Start(info)!;
    }

    static void RequireMpiexec()
    {
        Assert.True(File.Exists("/usr/bin/mpiexec"), "mpiexec is missing: these tests need Debian's mpich (apt-get install -y mpich libmpich-dev; .ci/run does it)");
    }

    /// <summary>`mpiexec -n N parnet ARGS`; MPMD jobs pass their own mpiexec arguments to <see cref="MpiExec"/>.</summary>
    public static (int Code, string Out, string Err) Ranks(int n, params string[] args) => MpiExec(["-n", n.ToString(), "dotnet", Parnet, .. args]);

    public static (int Code, string Out, string Err) MpiExec(string[] mpiexecArgs, int timeoutSeconds = 600)
    {
        RequireMpiexec();
        return Wait(StartMpiExec(mpiexecArgs), timeoutSeconds);
    }

    public static Process StartMpiExec(string[] mpiexecArgs)
    {
        RequireMpiexec();
        return Start("/usr/bin/mpiexec", mpiexecArgs);
    }

    public static string[] ParnetCommand(params string[] args) => ["dotnet", Parnet, .. args];

    /// <summary>A job of two processes started with different `parnet` command lines (MPMD: `mpiexec -n 1 A : -n 1 B`).</summary>
    public static (int Code, string Out, string Err) TwoRanks(string[] rankZero, string[] rankOne, int timeoutSeconds = 600) =>
        MpiExec(["-n", "1", .. ParnetCommand(rankZero), ":", "-n", "1", .. ParnetCommand(rankOne)], timeoutSeconds);

    /// <summary>A job refused as bad input: exit 2 and one line of ours on stderr, which says <paramref name="message"/>;
    /// that line, for more checks.</summary>
    public static string AssertRefusedInOneLine((int Code, string Out, string Err) result, string message)
    {
        Assert.True(result.Code == 2, $"exit {result.Code}: {result.Err}");
        var line = Assert.Single(OurErrorLines(result.Err));
        Assert.Contains(message, line);
        return line;
    }

    /// <summary>`parnet ARGS` as one plain process (no MPI launcher).</summary>
    public static (int Code, string Out, string Err) Alone(params string[] args) => Wait(Start("dotnet", [Parnet, .. args]), 600);

    public static (int Code, string Out, string Err) Wait(Process p, int timeoutSeconds)
    {
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"the job did not end within {timeoutSeconds} s");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>The lines of ours on stderr ("parnet ..."), without MPICH's and libtorch's own warnings.</summary>
    public static string[] OurErrorLines(string stderr)
        => stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("parnet", StringComparison.Ordinal)).ToArray();
}
