using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace ParNet.Tests.Serving;

/// <summary>`parnet serve` as a child process (the parnet.dll built beside the tests), on 127.0.0.1 with a port the OS picks.</summary>
sealed partial class ServeProcess : IDisposable
{
    readonly Process _process;
    readonly List<string> _stdout = [];
    readonly List<string> _stderr = [];
    readonly TaskCompletionSource<Uri> _address = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ServeProcess(params string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "parnet.dll"));
        start.ArgumentList.Add("serve");
        foreach (var a in new[] { "--host", "127.0.0.1", "--port", "0" }.Concat(args)) start.ArgumentList.Add(a);
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_stdout) _stdout.Add(e.Data);
            if (Listening().Match(e.Data) is { Success: true } m) _address.TrySetResult(new Uri(m.Groups[1].Value));
        };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.Add(e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    [GeneratedRegex(@"listening on (http://\S+?)/? ")]
    private static partial Regex Listening();

    public string Stdout { get { lock (_stdout) return string.Join("\n", _stdout); } }
    public string Stderr { get { lock (_stderr) return string.Join("\n", _stderr); } }
    public int Id => _process.Id;

    /// <summary>The address it printed; fails the test when it exits or stays silent for <paramref name="seconds"/>.</summary>
    public async Task<Uri> AddressAsync(int seconds = 120)
    {
        var done = await Task.WhenAny(_address.Task, _process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(seconds)));
        Assert.True(done == _address.Task, $"parnet serve printed no address.\nstdout: {Stdout}\nstderr: {Stderr}");
        return await _address.Task;
    }

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int signal);

    const int SigTerm = 15;

    public void Terminate() => Assert.Equal(0, kill(_process.Id, SigTerm));

    /// <summary>The exit code; fails the test if it has not exited within <paramref name="seconds"/>.</summary>
    public async Task<int> ExitCodeAsync(int seconds = 60)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try { await _process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException) { Assert.Fail($"parnet serve did not exit within {seconds} s.\nstdout: {Stdout}\nstderr: {Stderr}"); }
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
