using ParNet.Runtime;

namespace ParNet.Tests.Runtime;

/// <summary>The two CPU kinds of our machines, as /proc/cpuinfo shows them (flag lists shortened to what matters).</summary>
public class CpuCapabilitiesTests
{
    const string Zen3 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\n" +
                        "flags\t\t: fpu sse4_1 sse4_2 avx f16c fma avx2 bmi2 vaes vpclmulqdq\n\nprocessor\t: 1\nflags\t\t: fpu avx512f\n";
    const string Zen4 = "processor\t: 0\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC 9454\n" +
                        "flags\t\t: fpu avx2 avx512f avx512dq avx512bw avx512vl avx512_vnni avx512_bf16 gfni\n";

    [Fact]
    public void Zen3_has_AVX2_only_and_no_native_bf16()
    {
        var cpu = CpuCapabilities.Parse(Zen3)!;
        Assert.Equal("AMD EPYC", cpu.ModelName);
        Assert.Equal("family 25 model 1", cpu.FamilyModel);
        Assert.True(cpu.Avx2);
        Assert.False(cpu.Avx512);   // the second processor's flags are not read: the first block describes the CPU
        Assert.False(cpu.NativeBf16);
        Assert.Equal("avx2", cpu.OneDnnIsa);
        Assert.NotNull(cpu.Bf16Warning());
    }

    [Fact]
    public void Zen4_has_AVX512_with_bf16_and_VNNI()
    {
        var cpu = CpuCapabilities.Parse(Zen4)!;
        Assert.True(cpu.Avx512 && cpu.Vnni && cpu.NativeBf16);
        Assert.Equal("avx512_core_bf16", cpu.OneDnnIsa);
        Assert.Null(cpu.Bf16Warning());
        Assert.Equal("AMD EPYC 9454 (family 25 model 17): oneDNN ISA avx512_core_bf16, AVX-512, native bf16, VNNI", cpu.Describe(_ => null));
    }

    [Fact]
    public void A_kernel_cap_in_the_environment_is_named_in_the_description()
    {
        var cpu = CpuCapabilities.Parse(Zen4)!;
        var env = new Dictionary<string, string> { ["ONEDNN_MAX_CPU_ISA"] = "AVX2", ["ATEN_CPU_CAPABILITY"] = "avx2" };
        Assert.Equal("AMD EPYC 9454 (family 25 model 17): oneDNN ISA avx512_core_bf16, AVX-512, native bf16, VNNI; " +
                     "kernels capped by ONEDNN_MAX_CPU_ISA=AVX2, ATEN_CPU_CAPABILITY=avx2", cpu.Describe(env.GetValueOrDefault));
    }

    [Fact]
    public void Cpuinfo_without_flags_is_not_understood()
    {
        Assert.Null(CpuCapabilities.Parse("processor\t: 0\nmodel name\t: some ARM core\n"));
    }

    [Fact]
    public void This_machine_agrees_with_the_runtime_intrinsics()
    {
        var cpu = CpuCapabilities.Current;
        Assert.Equal(System.Runtime.Intrinsics.X86.Avx2.IsSupported, cpu.Avx2);
        Assert.Equal(System.Runtime.Intrinsics.X86.Avx512F.IsSupported, cpu.Avx512);
    }
}
