using System.Diagnostics;

namespace ParNet.Tests.Scripts;

/// <summary>A Python script of the repository run with python3 (.ci/run installs it), its output read.</summary>
static class PythonScript
{
    public static (int Code, string Stdout, string Stderr) Run(string script, params string[] arguments) =>
        RunFile(Repository.Path("scripts", script), arguments);

    /// <summary>A Python file anywhere (e.g. bench/pytorch's references, whose modules import torch only when they run).</summary>
    public static (int Code, string Stdout, string Stderr) RunFile(string path, params string[] arguments)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(path);
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();   // both pipes drained at once: a full one would block the script
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr);
    }

    /// <summary>Whether Debian's PyTorch (python3-torch) is there, as the scripts that run the authors' code require.</summary>
    public static bool DebianTorch()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("/usr/bin/python3", ["-c", "import torch"]) { RedirectStandardError = true })!;
            p.WaitForExit(60_000);
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception) { return false; }
    }
}
