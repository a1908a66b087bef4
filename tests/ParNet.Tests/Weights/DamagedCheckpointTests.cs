using System.IO.Compression;
using System.Text;
using ParNet.Tests.Data;
using ParNet.Weights;

namespace ParNet.Tests.Weights;

public class DamagedCheckpointTests
{
    static readonly string Fixture = Fixtures.Path("parnet_official_tiny_silu.timm.pth.tar");

    /// <summary>Bytes flipped inside one tensor of the authors' .pth.tar were read without a word (the unpickler does not check
    /// the zip's CRC-32s), and `convert` wrote the damaged weights on (walk F, session 29).</summary>
    [Fact]
    public void A_checkpoint_with_a_damaged_tensor_is_refused_naming_the_entry_and_an_intact_copy_reads()
    {
        using var dir = new TempDirectory();
        string damaged = dir.File("damaged.pth.tar");
        var bytes = File.ReadAllBytes(Fixture);
        string entry;
        using (var zip = new ZipArchive(new MemoryStream(bytes), ZipArchiveMode.Read))
            entry = zip.Entries.Where(e => e.FullName.Contains("/data/")).MaxBy(e => e.Length)!.FullName;
        // the entry's stored data follow its local header: 30 bytes, its name, its extra field
        int header = IndexOf(bytes, [.. "PK\u0003\u0004"u8, .. new byte[22]], Encoding.UTF8.GetBytes(entry));
        int start = header + 30 + BitConverter.ToUInt16(bytes, header + 26) + BitConverter.ToUInt16(bytes, header + 28);
        for (int i = 0; i < 16; i++) bytes[start + 8 + i] ^= 0x5a;
        File.WriteAllBytes(damaged, bytes);

        var e = Assert.Throws<InvalidDataException>(() => StateDict.Read(damaged));
        Assert.Equal($"{damaged}: cannot read weights: its entry {entry} does not match its CRC-32 (the file is damaged: copy or download it again)", e.Message);
        Assert.False(StateDict.IsMismatch(e));   // unreadable, not weights of another model (OfficialParityTests)
        var intact = StateDict.Read(Fixture);
        Assert.NotEmpty(intact);
        foreach (var t in intact.Values) t.Dispose();
    }

    /// <summary>PyTorch >= 2.6 can save without CRCs (torch.serialization.set_crc32_options(False)), storing 0, and
    /// torch.load reads such a file (review, session 29): so does this reader, with the same tensors as the original.</summary>
    [Fact]
    public void A_file_saved_without_CRCs_reads_as_the_original()
    {
        using var dir = new TempDirectory();
        string noCrc = dir.File("nocrc.pth.tar");
        var bytes = File.ReadAllBytes(Fixture);
        // the central directory (end record: "PK\5\6", entry count at +10, directory offset at +16); each entry's CRC at +16
        // there and at +14 of its local header (whose offset is at +42)
        int end = bytes.Length - 22;
        while (!bytes.AsSpan(end, 4).SequenceEqual("PK\u0005\u0006"u8)) end--;
        int entries = BitConverter.ToUInt16(bytes, end + 10), at = (int)BitConverter.ToUInt32(bytes, end + 16);
        for (int i = 0; i < entries; i++)
        {
            Assert.True(bytes.AsSpan(at, 4).SequenceEqual("PK\u0001\u0002"u8));
            int local = (int)BitConverter.ToUInt32(bytes, at + 42);
            Array.Clear(bytes, at + 16, 4);
            Array.Clear(bytes, local + 14, 4);
            at += 46 + BitConverter.ToUInt16(bytes, at + 28) + BitConverter.ToUInt16(bytes, at + 30) + BitConverter.ToUInt16(bytes, at + 32);
        }
        File.WriteAllBytes(noCrc, bytes);

        var original = StateDict.Read(Fixture);
        var read = StateDict.Read(noCrc);
        Assert.Equal(original.Keys.Order(), read.Keys.Order());
        Assert.All(original, kv => Assert.True(kv.Value.eq(read[kv.Key]).all().item<bool>(), kv.Key));
        foreach (var t in original.Values.Concat(read.Values)) t.Dispose();
    }

    /// <summary>The offset of the local header whose file name is <paramref name="name"/> (signature at 0, name at 30).</summary>
    static int IndexOf(byte[] bytes, byte[] signatureAndFixedPart, byte[] name)
    {
        for (int i = 0; i + 30 + name.Length <= bytes.Length; i++)
            if (bytes.AsSpan(i, 4).SequenceEqual(signatureAndFixedPart.AsSpan(0, 4)) && bytes.AsSpan(i + 30, name.Length).SequenceEqual(name))
                return i;
        throw new InvalidOperationException("local header not found");
    }
}
