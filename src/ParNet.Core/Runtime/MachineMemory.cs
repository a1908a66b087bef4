using System.Globalization;

namespace ParNet.Runtime;

/// <summary>The memory this process may use (the machine's, or a container's limit), for refusing what cannot fit
/// before allocating it, the one way messages write a size in GiB, and what this process holds resident.</summary>
public static class MachineMemory
{
    public static long AvailableBytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>"12.3 GiB": one decimal, whatever the culture.</summary>
    public static string GiB(double bytes) => (bytes / (1L << 30)).ToString("N1", CultureInfo.InvariantCulture) + " GiB";

    /// <summary>
    /// Resident set size of this process in MiB (VmRSS), native memory included, after returning the
    /// heap's free memory (kept for reuse by NativeSetup's malloc settings) so that it measures use.
    /// </summary>
    public static double ResidentMiB()
    {
        NativeSetup.ReleaseFreeHeapMemory();
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException) { }
        return Environment.WorkingSet / (1024.0 * 1024.0);
    }
}
