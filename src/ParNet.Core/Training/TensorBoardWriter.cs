using System.Text;

namespace ParNet.Training;

/// <summary>
/// Writes TensorBoard scalar event files without protobuf or TensorFlow: each record is TFRecord-framed
/// (uint64 length, masked CRC32C of the length, data, masked CRC32C of the data, little-endian) and holds
/// an Event message: wall_time (1: double), step (2: int64), file_version (3: string) or summary
/// (5: Summary { repeated Value value = 1 { tag = 1: string, simple_value = 2: float } }).
/// </summary>
public sealed class TensorBoardWriter : IDisposable
{
    readonly FileStream _stream;

    public TensorBoardWriter(string directory)
    {
        Directory.CreateDirectory(directory);
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Path = System.IO.Path.Combine(directory, $"events.out.tfevents.{now}.{Environment.MachineName}.{Environment.ProcessId}.parnet");
        _stream = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read);
        WriteRecord(Event(WallTime(), 0, fileVersion: "brain.Event:2"));
        _stream.Flush();
    }

    public string Path { get; }

    public void AddScalar(string tag, double value, long step) => AddScalars([(tag, value)], step);

    public void AddScalars(IEnumerable<(string Tag, double Value)> values, long step)
    {
        foreach (var (tag, value) in values)
            WriteRecord(Event(WallTime(), step, summary: Summary(tag, (float)value)));
        _stream.Flush();
    }

    static double WallTime() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    public static byte[] Event(double wallTime, long step, string? fileVersion = null, byte[]? summary = null)
    {
        var m = new MemoryStream();
        m.WriteByte((1 << 3) | 1); m.Write(BitConverter.GetBytes(wallTime));   // fixed64
        m.WriteByte(2 << 3); WriteVarint(m, (ulong)step);                        // varint
        if (fileVersion is not null) WriteBytes(m, 3, Encoding.UTF8.GetBytes(fileVersion));
        if (summary is not null) WriteBytes(m, 5, summary);
        return m.ToArray();
    }

    public static byte[] Summary(string tag, float value)
    {
        var v = new MemoryStream();
        WriteBytes(v, 1, Encoding.UTF8.GetBytes(tag));
        v.WriteByte((2 << 3) | 5); v.Write(BitConverter.GetBytes(value));       // fixed32
        var s = new MemoryStream();
        WriteBytes(s, 1, v.ToArray());
        return s.ToArray();
    }

    static void WriteBytes(Stream s, int field, byte[] bytes)
    {
        s.WriteByte((byte)((field << 3) | 2));
        WriteVarint(s, (ulong)bytes.Length);
        s.Write(bytes);
    }

    static void WriteVarint(Stream s, ulong value)
    {
        while (value >= 0x80) { s.WriteByte((byte)(value | 0x80)); value >>= 7; }
        s.WriteByte((byte)value);
    }

    void WriteRecord(byte[] data)
    {
        var length = BitConverter.GetBytes((ulong)data.Length);
        _stream.Write(length);
        _stream.Write(BitConverter.GetBytes(MaskedCrc(length)));
        _stream.Write(data);
        _stream.Write(BitConverter.GetBytes(MaskedCrc(data)));
    }

    public static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        uint crc = Crc32C(data);
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    }

    static readonly uint[] Table = BuildTable();

    static uint[] BuildTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }

    /// <summary>CRC-32C (Castagnoli), as TFRecord uses.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc ^ 0xFFFFFFFFu;
    }

    /// <summary>Reads back the scalars of an event file (tag, step, value), checking every CRC.</summary>
    public static List<(string Tag, long Step, float Value)> ReadScalars(string path)
    {
        var result = new List<(string, long, float)>();
        var bytes = File.ReadAllBytes(path);
        int pos = 0;
        while (pos < bytes.Length)
        {
            var lenBytes = bytes.AsSpan(pos, 8);
            ulong len = BitConverter.ToUInt64(lenBytes);
            if (BitConverter.ToUInt32(bytes, pos + 8) != MaskedCrc(lenBytes)) throw new InvalidDataException("bad length CRC");
            var data = bytes.AsSpan(pos + 12, (int)len);
            if (BitConverter.ToUInt32(bytes, pos + 12 + (int)len) != MaskedCrc(data)) throw new InvalidDataException("bad data CRC");
            pos += 16 + (int)len;
            long step = 0; string? tag = null; float? value = null;
            ParseMessage(data.ToArray(), (field, wire, payload, varint) =>
            {
                if (field == 2 && wire == 0) step = (long)varint;
                if (field == 5 && wire == 2)
                    ParseMessage(payload!, (f2, w2, p2, _) =>
                    {
                        if (f2 == 1 && w2 == 2)
                            ParseMessage(p2!, (f3, w3, p3, _) =>
                            {
                                if (f3 == 1) tag = Encoding.UTF8.GetString(p3!);
                                if (f3 == 2 && w3 == 5) value = BitConverter.ToSingle(p3!);
                            });
                    });
            });
            if (tag is not null && value is float v) result.Add((tag, step, v));
        }
        return result;
    }

    static void ParseMessage(byte[] data, Action<int, int, byte[]?, ulong> onField)
    {
        int pos = 0;
        ulong ReadVarint()
        {
            ulong v = 0; int shift = 0;
            while (true) { byte b = data[pos++]; v |= (ulong)(b & 0x7F) << shift; if (b < 0x80) return v; shift += 7; }
        }
        while (pos < data.Length)
        {
            ulong key = ReadVarint();
            int field = (int)(key >> 3), wire = (int)(key & 7);
            switch (wire)
            {
                case 0: onField(field, wire, null, ReadVarint()); break;
                case 1: onField(field, wire, data[pos..(pos + 8)], 0); pos += 8; break;
                case 5: onField(field, wire, data[pos..(pos + 4)], 0); pos += 4; break;
                case 2: { int len = (int)ReadVarint(); onField(field, wire, data[pos..(pos + len)], 0); pos += len; break; }
                default: throw new InvalidDataException($"unsupported wire type {wire}");
            }
        }
    }

    public void Dispose() => _stream.Dispose();
}
