using System.Buffers.Binary;

namespace ParNet.Tests.Scripts;

/// <summary>
/// scripts/keep_cuda_arch.py, which makes ONNX Runtime's CUDA provider small enough to carry to a lent GPU machine
/// (scripts/gpu-pack.sh), on a synthetic ELF file: an .nv_fatbin section holding two fatbins with sm_80 and sm_90 entries
/// between other bytes. The sm_80 payloads must become zeros, and every other byte (headers, the sm_90 code, the rest of
/// the file) stay as it was; a file without the asked-for architecture is refused.
/// </summary>
public class KeepCudaArchTests
{
    const uint Magic = 0xBA55ED50;
    const int EntryHeader = 64;

    /// <summary>A fatbin: its 16-byte header, then per entry a 64-byte header (kind, version, header size, payload size,
    /// arch at byte 28) and its payload (bytes of `fill`). Returns the bytes and each payload's (offset, arch).</summary>
    static (byte[] Bytes, List<(int Offset, int Length, uint Arch)> Payloads) Fatbin(params (uint Arch, int Length, byte Fill)[] entries)
    {
        int size = 16 + entries.Sum(e => EntryHeader + e.Length);
        var bytes = new byte[size];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(0), Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(6), 16);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), (ulong)(size - 16));
        var payloads = new List<(int, int, uint)>();
        int at = 16;
        foreach (var (arch, length, fill) in entries)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(at), 2);   // kind: ELF (SASS)
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at + 4), EntryHeader);
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at + 8), (ulong)length);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at + 28), arch);
            bytes.AsSpan(at + EntryHeader, length).Fill(fill);
            payloads.Add((at + EntryHeader, length, arch));
            at += EntryHeader + length;
        }
        return (bytes, payloads);
    }

    /// <summary>An ELF64 file: its 64-byte header, 40 bytes that belong to no section, the section, the section names and
    /// three section headers (null, .shstrtab, .nv_fatbin).</summary>
    static (byte[] File, int SectionStart) Elf(byte[] section)
    {
        byte[] names = "\0.shstrtab\0.nv_fatbin\0"u8.ToArray();
        int sectionStart = 64 + 40, namesStart = sectionStart + section.Length, headers = (namesStart + names.Length + 7) / 8 * 8;
        var file = new byte[headers + 3 * 64];
        "\u007fELF"u8.CopyTo(file);
        file[4] = 2; file[5] = 1; file[6] = 1;
        file.AsSpan(64, 40).Fill(0x5A);                                            // bytes that are not the section
        section.CopyTo(file, sectionStart);
        names.CopyTo(file, namesStart);
        BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(0x28), (ulong)headers);  // e_shoff
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(0x3A), 64);              // e_shentsize
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(0x3C), 3);               // e_shnum
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(0x3E), 1);               // e_shstrndx
        void Header(int index, int name, int offset, int length)
        {
            var h = file.AsSpan(headers + 64 * index);
            BinaryPrimitives.WriteUInt32LittleEndian(h, (uint)name);
            BinaryPrimitives.WriteUInt64LittleEndian(h[24..], (ulong)offset);
            BinaryPrimitives.WriteUInt64LittleEndian(h[32..], (ulong)length);
        }
        Header(1, 1, namesStart, names.Length);
        Header(2, 11, sectionStart, section.Length);
        return (file, sectionStart);
    }

    static (int Code, string Stderr) Run(params string[] arguments)
    {
        var (code, _, stderr) = PythonScript.Run("keep_cuda_arch.py", arguments);
        return (code, stderr);
    }

    [Fact]
    public void Only_the_other_architectures_payloads_become_zeros()
    {
        var first = Fatbin((80, 40, 0xA1), (90, 24, 0xA2));
        var second = Fatbin((90, 32, 0xA3), (80, 16, 0xA4), (120, 8, 0xA5));
        var section = new byte[first.Bytes.Length + 8 + second.Bytes.Length];   // 8 bytes of padding between the fatbins
        first.Bytes.CopyTo(section, 0);
        second.Bytes.CopyTo(section, first.Bytes.Length + 8);
        var (elf, sectionStart) = Elf(section);
        using var folder = new ParNet.Tests.Export.ExportTempFolder();
        string input = folder.File("provider.so"), output = folder.File("provider-sm90.so");
        File.WriteAllBytes(input, elf);

        var (code, stderr) = Run(input, output, "--arch", "90");
        Assert.True(code == 0, stderr);
        var copy = File.ReadAllBytes(output);
        Assert.Equal(elf.Length, copy.Length);
        var expected = (byte[])elf.Clone();
        foreach (var (payloads, offset) in new[] { (first.Payloads, 0), (second.Payloads, first.Bytes.Length + 8) })
            foreach (var (at, length, arch) in payloads)
                if (arch != 90) Array.Clear(expected, sectionStart + offset + at, length);
        Assert.Equal(expected, copy);
        Assert.Contains(copy, b => b == 0xA2);   // the sm_90 code is there (payload bytes 0xA1-0xA5 appear nowhere else)
        Assert.DoesNotContain(copy, b => b is 0xA1 or 0xA4 or 0xA5);
        Assert.Contains("sm_90 code kept", stderr);
    }

    [Fact]
    public void A_library_without_the_architecture_is_refused()
    {
        var (elf, _) = Elf(Fatbin((80, 16, 0xA1)).Bytes);
        using var folder = new ParNet.Tests.Export.ExportTempFolder();
        string input = folder.File("provider.so"), output = folder.File("copy.so");
        File.WriteAllBytes(input, elf);
        var (code, stderr) = Run(input, output, "--arch", "90");
        Assert.NotEqual(0, code);
        Assert.Contains("no sm_90 code", stderr);
        Assert.False(File.Exists(output));
    }
}
