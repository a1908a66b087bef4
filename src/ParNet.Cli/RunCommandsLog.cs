using System.Globalization;
using ParNet.Runtime;

namespace ParNet.Cli;

/// <summary>
/// A run folder's <c>commands.log</c>: a line for every start and resume of `parnet train` there (when, parnet's version
/// with its commit, the CPU as oneDNN sees it, threads and processes, the command line). run.json and recipe.json hold what
/// the run trains with, not the code or the machine that trained it, nor what was typed: a run could not be repeated from
/// its folder alone (reproducibility audit, session 42).
/// </summary>
public static class RunCommandsLog
{
    public const string FileName = "commands.log";

    /// <summary>Appends this start's line; a folder that takes no line is warned of on <paramref name="stderr"/>, not a reason
    /// to stop (a resume that trains nothing writes nothing else there).</summary>
    public static void Append(string runDir, IEnumerable<string> commandLine, int threads, int processes, TextWriter stderr)
    {
        string line = string.Create(CultureInfo.InvariantCulture,
            $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ} parnet {CodeVersion.Current}; cpu: {CpuCapabilities.Current.Describe()}; {threads} thread{(threads == 1 ? "" : "s")} x " +
            $"{processes} process{(processes == 1 ? "" : "es")}; parnet {ShellWords.Join(commandLine)}\n");
        try { File.AppendAllText(Path.Combine(runDir, FileName), line); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"parnet train: warning: {FileName} of {runDir} cannot be written ({e.Message}): this start goes unrecorded there");
        }
    }
}
