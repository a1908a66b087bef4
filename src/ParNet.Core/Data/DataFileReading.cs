using System.IO.Compression;

namespace ParNet.Data;

/// <summary>Helpers shared by the readers: open raw or gzip files and read exact byte counts.</summary>
static class DataFileReading
{
    /// <summary>Opens a file; gzip (detected by its magic bytes 1f 8b, not the name) is decompressed on the fly.</summary>
    public static Stream Open(string path)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        int b0 = file.ReadByte(), b1 = file.ReadByte();
        file.Position = 0;
        if (b0 == 0x1f && b1 == 0x8b)
            return new BufferedStream(new GZipStream(file, CompressionMode.Decompress), 1 << 16);
        return file;
    }

    public static bool IsGzip(Stream stream) => stream is BufferedStream { UnderlyingStream: GZipStream };

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends; returns the bytes read.</summary>
    public static int ReadFully(Stream stream, Span<byte> buffer, string path)
    {
        int total = 0;
        try
        {
            while (total < buffer.Length)
            {
                int n = stream.Read(buffer[total..]);
                if (n == 0) break;
                total += n;
            }
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: corrupt compressed data ({e.Message})", e);
        }
        return total;
    }

    /// <summary>True when nothing follows; a corrupt gzip trailer is reported as corrupt data.</summary>
    public static bool AtEnd(Stream stream, string path)
    {
        Span<byte> one = stackalloc byte[1];
        return ReadFully(stream, one, path) == 0;
    }
}
