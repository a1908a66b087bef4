namespace ParNet.Distributed;

/// <summary>
/// Whether this process was started by an MPI launcher, from its environment alone, so that a plain run never
/// loads an MPI library. MPICH's hydra (mpiexec) sets PMI_RANK and PMI_SIZE in every process it starts (checked
/// with `mpiexec -n 2 env` on MPICH 4.0.2); Slurm's `srun --mpi=pmi2` sets them too, PMIx launchers PMIX_RANK.
/// </summary>
public static class MpiLaunch
{
    static readonly string[] Variables = ["PMI_RANK", "PMI_SIZE", "PMIX_RANK"];

    public static bool Detected(Func<string, string?> environment) => Variables.Any(v => !string.IsNullOrEmpty(environment(v)));

    public static bool Detected() => Detected(Environment.GetEnvironmentVariable);

    /// <summary>
    /// Whether the launcher started several processes, from the environment alone (no MPI library loaded): PMI_SIZE
    /// above 1, or a rank other than 0 (PMIx sets no PMI_SIZE). For the commands that are one process's work.
    /// </summary>
    public static bool SeveralProcesses(Func<string, string?> environment) =>
        Number(environment("PMI_SIZE")) > 1 || Number(environment("PMI_RANK")) > 0 || Number(environment("PMIX_RANK")) > 0;

    public static bool SeveralProcesses() => SeveralProcesses(Environment.GetEnvironmentVariable);

    /// <summary>This process's rank as the launcher set it (0 when not launched by MPI).</summary>
    public static int LaunchedRank() => Math.Max(Number(Environment.GetEnvironmentVariable("PMI_RANK")), Number(Environment.GetEnvironmentVariable("PMIX_RANK")));

    static int Number(string? value) => int.TryParse(value, out int n) ? n : 0;

    /// <summary>The MPI processes when launched by MPI, else this process alone.</summary>
    public static IProcessGroup Start() => Detected() ? MpiProcessGroup.Start() : new SingleProcess();
}
