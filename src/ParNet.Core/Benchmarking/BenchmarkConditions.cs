namespace ParNet.Benchmarking;

/// <summary>
/// What a benchmark's report says of the run around its numbers (bench.json, train-bench.json): the command, the machine,
/// when it started and how long it took, and the load average before and after, since its rates mean something only on a
/// quiet machine. One record for both reports, which had each their own copy of these fields.
/// </summary>
public sealed record BenchmarkConditions(string Command, string Machine, DateTime StartedUtc, double Seconds, string LoadBefore, string LoadAfter)
{
    /// <summary>Starts the clock and reads the load now; the function returned gives the conditions as they stand when called.</summary>
    public static Func<BenchmarkConditions> Start(string command)
    {
        var started = DateTime.UtcNow;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string before = InferenceBenchmark.LoadAverage();
        return () => new(command, InferenceBenchmark.MachineDescription(), started, clock.Elapsed.TotalSeconds, before, InferenceBenchmark.LoadAverage());
    }

    /// <summary>Conditions of a report made by hand (tests, a library user's own): no command, machine or load.</summary>
    public static BenchmarkConditions Unrecorded { get; } = new("", "", DateTime.UnixEpoch, 0, "", "");
}
