using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ParNet.Weights;

/// <summary>
/// A safetensors file's header: an 8-byte little-endian length, then a JSON object of tensor entries ({"dtype", "shape",
/// "data_offsets": [begin, end]}, offsets into the data after the header) and an optional "__metadata__" map of strings.
/// <see cref="Read"/> takes it as the format's own reader (Python's safetensors) validates it: every entry complete, its
/// byte count its shape's, the entries tiling the data exactly (no gap, no overlap, nothing after). TorchSharp.PyBridge's
/// reader took overlapping tensors, holes and a third offset, and answered an entry without a shape with a null reference
/// (an audit of session 47). Every failure is an <see cref="InvalidDataException"/> naming the file.
/// </summary>
public static class SafetensorsHeader
{
    /// <summary>The largest header read (the format's own reader's limit).</summary>
    const long MaxHeaderBytes = 100_000_000;

    static readonly Dictionary<string, int> BytesPerElement = new(StringComparer.Ordinal)
    {
        ["F64"] = 8, ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2, ["I64"] = 8, ["I32"] = 4, ["I16"] = 2, ["I8"] = 1,
        ["U64"] = 8, ["U32"] = 4, ["U16"] = 2, ["U8"] = 1, ["BOOL"] = 1, ["F8_E4M3"] = 1, ["F8_E5M2"] = 1,
    };

    /// <summary>The header of <paramref name="path"/>, validated against the file's size.</summary>
    public static JsonObject Read(string path)
    {
        using var f = File.OpenRead(path);
        Span<byte> lengthBytes = stackalloc byte[8];
        if (f.ReadAtLeast(lengthBytes, 8, throwOnEndOfStream: false) != 8) throw new InvalidDataException($"{path}: not a safetensors file (too short)");
        ulong length = BitConverter.ToUInt64(lengthBytes);
        if (length > MaxHeaderBytes || (long)length > f.Length - 8) throw new InvalidDataException($"{path}: not a safetensors file (bad header length)");
        var bytes = new byte[length];
        f.ReadExactly(bytes);
        JsonObject header;
        try
        {
            // a header that is JSON but not an object, or an object with a key twice, ended every command that loads weights
            // with a stack trace (exit 134: an audit of session 47)
            // a key given twice, at any depth, refused while parsing (a JsonObject builds its dictionary lazily, and a nested
            // duplicate threw later, outside this catch: review, session 47)
            header = JsonNode.Parse(Encoding.UTF8.GetString(bytes), documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }) as JsonObject
                ?? throw new InvalidDataException($"{path}: not a safetensors file (its header is not a JSON object)");
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: unreadable safetensors header ({e.Message})", e);
        }
        RequireTiling(header, f.Length - 8 - (long)length, path);
        return header;
    }

    /// <summary>The string map under "__metadata__" (empty when there is none).</summary>
    public static Dictionary<string, string> Metadata(JsonObject header)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (header["__metadata__"] is JsonObject meta)
            foreach (var (k, v) in meta)
                if (v is JsonValue value && value.TryGetValue<string>(out var s)) result[k] = s;
        return result;
    }

    static void RequireTiling(JsonObject header, long dataBytes, string path)
    {
        var spans = new List<(long Begin, long End, string Name)>();
        foreach (var (name, entry) in header)
        {
            if (name == "__metadata__") continue;
            InvalidDataException Bad(string why) => new($"{path}: its tensor '{name}' {why}");
            if (entry is not JsonObject e) throw Bad("is not an object of dtype, shape and data_offsets");
            if (e["dtype"] is not JsonValue dtypeValue || !dtypeValue.TryGetValue<string>(out var dtype)) throw Bad("has no dtype");
            if (!BytesPerElement.TryGetValue(dtype, out int size)) throw Bad($"has a dtype this reader does not know ({dtype})");
            long[] shape = Integers(e["shape"]) ?? throw Bad("has no shape (a list of sizes)");
            long[] offsets = Integers(e["data_offsets"]) is [var begin, var end] ? [begin, end] : throw Bad("has no data_offsets [begin, end]");
            if (shape.Any(s => s < 0) || offsets[0] < 0 || offsets[1] < offsets[0]) throw Bad("has a negative size or reversed offsets");
            long elements = 1;
            try { foreach (long s in shape) elements = checked(elements * s); elements = checked(elements * size); }
            catch (OverflowException) { throw Bad($"has a shape [{string.Join(",", shape)}] of more bytes than a file holds"); }
            if (offsets[1] - offsets[0] != elements)
                throw Bad($"spans {offsets[1] - offsets[0]:N0} bytes where its shape [{string.Join(",", shape)}] of {dtype} takes {elements:N0}");
            spans.Add((offsets[0], offsets[1], name));
        }
        long at = 0;
        foreach (var (begin, end, name) in spans.OrderBy(s => s.Begin).ThenBy(s => s.End))
        {
            if (begin != at)
                throw new InvalidDataException($"{path}: its tensor '{name}' starts at byte {begin:N0} of the data, where " +
                                               (begin < at ? "an earlier tensor's bytes still run (tensors overlap)" : $"the bytes before it end at {at:N0} (a gap)"));
            at = end;
        }
        if (at != dataBytes)
            throw new InvalidDataException($"{path}: its tensors take {at:N0} bytes of data, the file holds {dataBytes:N0} after its header " +
                                           (at < dataBytes ? "(bytes after the last tensor)" : "(truncated)"));
    }

    /// <summary>A JSON array of integers, or null.</summary>
    static long[]? Integers(JsonNode? node)
    {
        if (node is not JsonArray array) return null;
        var values = new long[array.Count];
        for (int i = 0; i < values.Length; i++)
            if (array[i] is not JsonValue v || !v.TryGetValue(out values[i])) return null;
        return values;
    }
}
