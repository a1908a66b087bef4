using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace ParNet.Runtime;

/// <summary>
/// A parallel loop on libtorch's own OpenMP threads (GOMP_parallel of the libgomp that libtorch loaded), for C# kernels
/// that run between libtorch's ops (<see cref="WinogradConvolution"/>). After each parallel op libtorch's OpenMP workers
/// spin for a while before they sleep; on a 2-core machine a .NET Parallel.For started then shares its cores with a
/// spinning thread: the Winograd products ran 1.3-2.2x slower right after a libtorch op than alone, where libtorch's
/// bmm (on those same OpenMP threads) did not (RESULTS.md, "Winograd products"). Handing the loop to the spinning
/// team instead costs it nothing. Where no libgomp is loaded (another libtorch build, another OS) the loop runs on
/// .NET's thread pool as before.
/// </summary>
public static unsafe class OpenMpParallel
{
    sealed class Work(int count, int parts, Action<int, int> body)
    {
        public readonly int Count = count, Parts = parts;
        public readonly Action<int, int> Body = body;
        public Exception? Error;
    }

    static readonly delegate* unmanaged<delegate* unmanaged<nint, void>, nint, uint, uint, void> GompParallel;
    static readonly delegate* unmanaged<int> ThreadNumber, TeamSize;
    static readonly nint LibGomp;

    static OpenMpParallel()
    {
        if (!OperatingSystem.IsLinux()) return;
        TorchSharp.torch.get_num_threads();   // libtorch (and with it its libgomp) loaded
        string? path;
        try
        {
            var mapped = File.ReadLines("/proc/self/maps").Select(l => l.IndexOf('/') is int at and >= 0 ? l[at..] : "")   // paths may hold spaces
                .Where(p => p.Length > 0).Distinct().ToList();
            var gomps = mapped.Where(p => Path.GetFileName(p).StartsWith("libgomp", StringComparison.Ordinal) && File.Exists(p)).ToList();
            // libtorch's own, beside libtorch_cpu.so, where another one (the system's libgomp.so.1) is loaded too
            string? torchFolder = mapped.Where(p => Path.GetFileName(p).StartsWith("libtorch_cpu", StringComparison.Ordinal)).Select(Path.GetDirectoryName).FirstOrDefault();
            path = gomps.FirstOrDefault(p => Path.GetDirectoryName(p) == torchFolder) ?? gomps.FirstOrDefault();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }   // no /proc: .NET's pool
        if (path is null || !NativeLibrary.TryLoad(path, out var library)) return;
        LibGomp = library;
        if (NativeLibrary.TryGetExport(library, "GOMP_parallel", out var parallel)
            && NativeLibrary.TryGetExport(library, "omp_get_thread_num", out var number)
            && NativeLibrary.TryGetExport(library, "omp_get_num_threads", out var size))
        {
            GompParallel = (delegate* unmanaged<delegate* unmanaged<nint, void>, nint, uint, uint, void>)parallel;
            ThreadNumber = (delegate* unmanaged<int>)number;
            TeamSize = (delegate* unmanaged<int>)size;
        }
    }

    /// <summary>A function of libtorch's libgomp, or null where none is loaded.</summary>
    internal static nint Export(string name) => LibGomp != 0 && NativeLibrary.TryGetExport(LibGomp, name, out var f) ? f : 0;

    /// <summary>Whether loops run on libtorch's OpenMP threads (else on .NET's thread pool).</summary>
    public static bool OnOpenMpThreads => GompParallel != null;

    /// <summary>body(first, last) for <paramref name="parts"/> contiguous ranges covering 0..count-1, in parallel; returns
    /// when all are done, rethrowing the first exception of any.</summary>
    public static void For(int count, int parts, Action<int, int> body)
    {
        parts = Math.Clamp(parts, 1, Math.Max(count, 1));
        if (parts == 1) { body(0, count); return; }
        if (!OnOpenMpThreads)
        {
            try { Parallel.For(0, parts, i => body(First(count, parts, i), First(count, parts, i + 1))); }
            catch (AggregateException e) { ExceptionDispatchInfo.Throw(e.InnerExceptions[0]); }   // as the OpenMP path: the part's own exception
            return;
        }
        var work = new Work(count, parts, body);
        var handle = GCHandle.Alloc(work);
        try { GompParallel(&RunPart, GCHandle.ToIntPtr(handle), (uint)parts, 0); }
        finally { handle.Free(); }
        if (work.Error is { } error) ExceptionDispatchInfo.Throw(error);
    }

    /// <summary>Where part i of count items split into parts begins.</summary>
    static int First(int count, int parts, int i) => (int)((long)count * i / parts);

    /// <summary>One OpenMP thread's share: parts i, i + team, ... (the team may be smaller than asked).</summary>
    [UnmanagedCallersOnly]
    static void RunPart(nint data)
    {
        var work = (Work)GCHandle.FromIntPtr(data).Target!;
        try
        {
            for (int i = ThreadNumber(), team = TeamSize(); i < work.Parts; i += team)
                work.Body(First(work.Count, work.Parts, i), First(work.Count, work.Parts, i + 1));
        }
        catch (Exception e) { Interlocked.CompareExchange(ref work.Error, e, null); }   // never across the native frame
    }
}
