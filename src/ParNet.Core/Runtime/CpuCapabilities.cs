using System.Runtime.Intrinsics.X86;

namespace ParNet.Runtime;

/// <summary>
/// What this CPU offers the kernels libtorch and oneDNN dispatch to, read once. Our machines come in two
/// kinds that differ exactly here: AMD Zen 4 (AVX-512 with BF16 and VNNI) and Zen 3 (AVX2 only), 2-3x apart.
/// The flags come from /proc/cpuinfo on Linux (the kernel's view, which includes avx512_bf16, a flag .NET
/// does not expose); elsewhere from .NET's intrinsics, where bf16 stays unknown (false).
/// </summary>
public sealed record CpuCapabilities(string ModelName, string? FamilyModel, bool Avx2, bool Avx512, bool Avx512Bf16,
                                     bool Vnni, bool AmxBf16)
{
    /// <summary>The CPU this process runs on.</summary>
    public static CpuCapabilities Current => _current.Value;

    static readonly Lazy<CpuCapabilities> _current = new(Read);

    /// <summary>Native bfloat16 arithmetic (AVX512_BF16 or AMX): without it libtorch emulates bf16 in float32
    /// with conversions around every op, many times slower than float32 itself.</summary>
    public bool NativeBf16 => Avx512Bf16 || AmxBf16;

    /// <summary>The widest instruction set oneDNN's x64 kernels can dispatch to here (ONEDNN_MAX_CPU_ISA may cap it lower).</summary>
    public string OneDnnIsa => (Avx512, Avx512Bf16, Vnni, Avx2) switch
    {
        (true, true, _, _) => "avx512_core_bf16",
        (true, false, true, _) => "avx512_core_vnni",
        (true, false, false, _) => "avx512_core",
        (false, _, true, true) => "avx2_vnni",
        (false, _, false, true) => "avx2",
        _ => "sse41 or lower",
    };

    /// <summary>The variables that make libtorch dispatch below what the CPU offers (oneDNN's ISA cap, ATen's kernels), as set.</summary>
    public static readonly string[] KernelCapVariables = ["ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY"];

    /// <summary>One line for benchmark headers and run logs; names any kernel cap set in the environment
    /// (<paramref name="environment"/>: a lookup for tests; default the process's).</summary>
    public string Describe(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var caps = KernelCapVariables.Select(v => (v, Value: environment(v))).Where(c => !string.IsNullOrEmpty(c.Value))
            .Select(c => $"{c.v}={c.Value}").ToList();
        return $"{ModelName}{(FamilyModel is null ? "" : $" ({FamilyModel})")}: oneDNN ISA {OneDnnIsa}, " +
               $"{(Avx512 ? "AVX-512" : "no AVX-512")}, {(NativeBf16 ? "native bf16" : "no native bf16")}, {(Vnni ? "VNNI" : "no VNNI")}" +
               (caps.Count == 0 ? "" : $"; kernels capped by {string.Join(", ", caps)}");
    }

    /// <summary>Parses /proc/cpuinfo text (its first processor block); null when it names no flags.</summary>
    public static CpuCapabilities? Parse(string cpuinfo)
    {
        string? Field(string key) => cpuinfo.Split('\n')
            .Where(l => l.StartsWith(key, StringComparison.Ordinal) && l.AsSpan(key.Length).TrimStart().StartsWith(":"))
            .Select(l => l.Split(':', 2)[1].Trim()).FirstOrDefault();
        string? flagLine = Field("flags");
        if (flagLine is null) return null;
        var flags = flagLine.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        string? family = Field("cpu family"), model = Field("model");
        return new CpuCapabilities(
            ModelName: Field("model name") ?? "unknown CPU",
            FamilyModel: family is null || model is null ? null : $"family {family} model {model}",
            Avx2: flags.Contains("avx2"),
            Avx512: flags.Contains("avx512f") && flags.Contains("avx512bw") && flags.Contains("avx512vl"),   // oneDNN's avx512_core
            Avx512Bf16: flags.Contains("avx512_bf16"),
            Vnni: flags.Contains("avx512_vnni") || flags.Contains("avx_vnni"),
            AmxBf16: flags.Contains("amx_bf16"));
    }

    static CpuCapabilities Read()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo") && Parse(File.ReadAllText("/proc/cpuinfo")) is { } parsed) return parsed;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return new CpuCapabilities(
            ModelName: "unknown CPU", FamilyModel: null, Avx2: System.Runtime.Intrinsics.X86.Avx2.IsSupported,
            Avx512: Avx512F.IsSupported && Avx512BW.IsSupported, Avx512Bf16: false,
            Vnni: AvxVnni.IsSupported, AmxBf16: false);
    }

    /// <summary>Measured cost of bfloat16 without native support, for the warning (RESULTS.md, AMD EPYC Zen 3, 2 cores,
    /// 2026-12-02): `parnet train-bench` 36 against 253 images/s (7x); `parnet bench` fused ParNet-S at 224,
    /// issue 17: 5210.7 against 119.0 ms (44x).</summary>
    public string? Bf16Warning() => NativeBf16 ? null :
        $"this CPU has no native bfloat16 ({ModelName}: no AVX512_BF16/AMX): libtorch emulates it, measured 7x slower " +
        "than float32 for training and 44x for inference on AMD Zen 3; float32 is the faster choice here";
}
