using System.Globalization;

namespace ParNet.Runtime;

/// <summary>The memory this process may use (the machine's, or a container's limit), for refusing what cannot fit
/// before allocating it, and the one way messages write a size in GiB.</summary>
public static class MachineMemory
{
    public static long AvailableBytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>"12.3 GiB": one decimal, whatever the culture.</summary>
    public static string GiB(double bytes) => (bytes / (1L << 30)).ToString("N1", CultureInfo.InvariantCulture) + " GiB";
}
