using System.Diagnostics;
using System.Runtime.InteropServices;

namespace ParNet.Tests.Cli;

/// <summary>
/// `parnet ARGS` in a child process, sent SIGTERM once a line of its output says the work is under way (a training step, an
/// epoch): what a scheduler's preemption or `docker stop` does to a long run. Bounded: the work must start within 120 s and
/// end within 60 s of the signal.
/// </summary>
static class SigtermRun
{
    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int signal);

    public static async Task<(int ExitCode, IReadOnlyList<string> Stdout)> RunAsync(string[] args, Func<string, bool> underWay)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "parnet.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stdout = new List<string>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) stdout.Add(e.Data);
            if (underWay(e.Data)) started.TrySetResult();
        };
        var stderr = process.StandardError.ReadToEndAsync();
        process.BeginOutputReadLine();
        try
        {
            var first = await Task.WhenAny(started.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(120)));
            Assert.True(first == started.Task, $"the work never got under way:\n{string.Join("\n", stdout)}\n{(process.HasExited ? await stderr : "")}");
            Assert.Equal(0, kill(process.Id, 15));
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "still running a minute after SIGTERM");
        }
        finally { if (!process.HasExited) process.Kill(); }
        process.WaitForExit();
        lock (stdout) return (process.ExitCode, stdout.ToList());
    }
}
