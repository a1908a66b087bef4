using System.Runtime.InteropServices;

namespace ParNet.Tests.Scripts;

/// <summary>Signals to the processes a script test started, by PID (libc's kill), and whether one still runs.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
static class ProcessSignals
{
    [DllImport("libc", SetLastError = true)]
    public static extern int kill(int pid, int signal);

    public const int SigTerm = 15, SigKill = 9, SigStop = 19;

    /// <summary>Running and not a zombie (a child the test has not reaped yet).</summary>
    public static bool Alive(int pid) => kill(pid, 0) == 0 && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ");
}
