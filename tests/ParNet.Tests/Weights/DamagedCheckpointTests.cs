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
        Assert.NotEmpty(StateDict.Read(Fixture));   // the intact file reads
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
