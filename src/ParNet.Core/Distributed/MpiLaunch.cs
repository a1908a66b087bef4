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

    /// <summary>The MPI processes when launched by MPI, else this process alone.</summary>
    public static IProcessGroup Start() => Detected() ? MpiProcessGroup.Start() : new SingleProcess();
}
