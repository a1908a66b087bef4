using System.Buffers.Binary;
using System.IO.Compression;
using SkiaSharp;

namespace ParNet.Tests.Data;

/// <summary>
/// Tiny files that declare enormous images, one per format SkiaSharp decodes: PNG, JPEG, WebP, GIF and BMP. Each is a
/// valid small file whose declared size is rewritten (checksums recomputed where the format has them), so a decoder
/// that trusts the header allocates gigabytes.
/// </summary>
static class DecompressionBombs
{
    public static IEnumerable<(string Extension, byte[] Bytes, string Declared)> All()
    {
        yield return ("png", Png(60000, 60000), "60000x60000");
        yield return ("jpg", Jpeg(60000, 60000), "60000x60000");
        yield return ("webp", Webp(16383, 16383), "16383x16383");
        yield return ("gif", Gif(60000, 60000), "60000x60000");
        yield return ("bmp", Bmp(30000, 30000), "30000x30000");
    }

    /// <summary>Signature, IHDR (8-bit RGB), one IDAT holding an empty zlib stream, IEND: about 60 bytes.</summary>
    public static byte[] Png(int width, int height)
    {
        var png = new List<byte> { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; ihdr[9] = 2;   // bit depth 8, colour type RGB
        Chunk(png, "IHDR", ihdr);
        using (var z = new MemoryStream())
        {
            using (var zlib = new ZLibStream(z, CompressionLevel.Fastest)) zlib.Write(new byte[16]);
            Chunk(png, "IDAT", z.ToArray());
        }
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    static void Chunk(List<byte> png, string type, byte[] data)
    {
        var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        var header = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(header, data.Length);
        png.AddRange(header);
        png.AddRange(typed);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
        png.AddRange(crc);
    }

    static uint Crc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>A 16x16 baseline JPEG with its SOF0 frame size rewritten.</summary>
    public static byte[] Jpeg(int width, int height)
    {
        var jpeg = Small(SKEncodedImageFormat.Jpeg);
        int sof = Find(jpeg, [0xFF, 0xC0]);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 5), (ushort)height);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 7), (ushort)width);
        return jpeg;
    }

    /// <summary>A 16x16 lossy WebP with its VP8 key-frame size rewritten (14 bits: at most 16383).</summary>
    public static byte[] Webp(int width, int height)
    {
        var webp = Small(SKEncodedImageFormat.Webp, quality: 50);
        int start = Find(webp, [0x9D, 0x01, 0x2A]);   // the key frame's start code, then width and height
        BinaryPrimitives.WriteUInt16LittleEndian(webp.AsSpan(start + 3), (ushort)width);
        BinaryPrimitives.WriteUInt16LittleEndian(webp.AsSpan(start + 5), (ushort)height);
        return webp;
    }

    /// <summary>A 1x1 GIF89a whose screen and image descriptor both declare the size.</summary>
    public static byte[] Gif(int width, int height)
    {
        byte[] gif = Convert.FromHexString("47494638396101000100800000000000FFFFFF2C000000000100010000020244003B");
        BinaryPrimitives.WriteUInt16LittleEndian(gif.AsSpan(6), (ushort)width);
        BinaryPrimitives.WriteUInt16LittleEndian(gif.AsSpan(8), (ushort)height);
        int descriptor = Find(gif, [0x2C, 0, 0, 0, 0]);
        BinaryPrimitives.WriteUInt16LittleEndian(gif.AsSpan(descriptor + 5), (ushort)width);
        BinaryPrimitives.WriteUInt16LittleEndian(gif.AsSpan(descriptor + 7), (ushort)height);
        return gif;
    }

    /// <summary>A BMP header (24-bit, uncompressed) declaring the size, followed by 64 bytes of pixels.</summary>
    public static byte[] Bmp(int width, int height)
    {
        var bmp = new byte[54 + 64];
        bmp[0] = (byte)'B'; bmp[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(2), bmp.Length);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(28), 24);
        return bmp;
    }

    static byte[] Small(SKEncodedImageFormat format, int quality = 90)
        => TempDirectory.EncodeImage(16, 16, (x, y) => ((byte)(x * 16), (byte)(y * 16), 0), format, quality);

    static int Find(byte[] data, byte[] pattern)
    {
        for (int i = 0; i + pattern.Length <= data.Length; i++)
            if (data.AsSpan(i, pattern.Length).SequenceEqual(pattern)) return i;
        throw new InvalidOperationException("marker not found: the encoder's output changed");
    }
}
