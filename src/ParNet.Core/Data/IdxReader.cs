using System.Buffers.Binary;

namespace ParNet.Data;

/// <summary>
/// Reads the IDX format of MNIST and Fashion-MNIST (raw or gzip). Every inconsistency (magic number,
/// counts against file size, labels out of range) is an InvalidDataException naming the file.
/// </summary>
public static class IdxReader
{
    /// <summary>Magic of an unsigned-byte IDX file with 3 dimensions (images) and 1 (labels).</summary>
    public const int ImagesMagic = 0x00000803, LabelsMagic = 0x00000801;

    /// <summary>The gzip size check of a huge declared payload: beyond this, check before allocating.</summary>
    const long LargePayloadBytes = 256L << 20;

    public sealed record Images(byte[] Pixels, int Count, int Rows, int Columns);

    public static Images ReadImages(string path)
    {
        using var stream = DataFileReading.Open(path);
        Span<byte> header = stackalloc byte[16];
        if (DataFileReading.ReadFully(stream, header, path) < 16)
            throw new InvalidDataException($"{path}: truncated IDX header (needs 16 bytes)");
        int magic = BinaryPrimitives.ReadInt32BigEndian(header);
        if (magic != ImagesMagic)
            throw new InvalidDataException($"{path}: wrong magic number 0x{magic:x8} for IDX images (expected 0x{ImagesMagic:x8})");
        int count = BinaryPrimitives.ReadInt32BigEndian(header[4..]);
        int rows = BinaryPrimitives.ReadInt32BigEndian(header[8..]);
        int columns = BinaryPrimitives.ReadInt32BigEndian(header[12..]);
        if (count < 0 || rows <= 0 || columns <= 0)
            throw new InvalidDataException($"{path}: impossible header dimensions {count} x {rows} x {columns}");
        // count x rows x columns can exceed a long (2^93 at most): bound it in floating point first (fuzzing found a
        // header whose product wrapped negative and reached `new byte[negative]`)
        if ((double)count * rows * columns > Array.MaxLength)
            throw new InvalidDataException($"{path}: header declares {count} images of {rows}x{columns}, more bytes than one array can hold");
        long payload = (long)count * rows * columns;
        var pixels = ReadPayload(stream, path, 16, payload, $"{count} images of {rows}x{columns}");
        return new Images(pixels, count, rows, columns);
    }

    /// <summary>Labels, each checked to be below <paramref name="classCount"/>.</summary>
    public static byte[] ReadLabels(string path, int classCount)
    {
        using var stream = DataFileReading.Open(path);
        Span<byte> header = stackalloc byte[8];
        if (DataFileReading.ReadFully(stream, header, path) < 8)
            throw new InvalidDataException($"{path}: truncated IDX header (needs 8 bytes)");
        int magic = BinaryPrimitives.ReadInt32BigEndian(header);
        if (magic != LabelsMagic)
            throw new InvalidDataException($"{path}: wrong magic number 0x{magic:x8} for IDX labels (expected 0x{LabelsMagic:x8})");
        int count = BinaryPrimitives.ReadInt32BigEndian(header[4..]);
        if (count < 0)
            throw new InvalidDataException($"{path}: negative label count {count}");
        var labels = ReadPayload(stream, path, 8, count, $"{count} labels");
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] >= classCount)
                throw new InvalidDataException($"{path}: label {labels[i]} at index {i} is out of range (classes 0..{classCount - 1})");
        return labels;
    }

    static byte[] ReadPayload(Stream stream, string path, int headerBytes, long payload, string what)
    {
        if (payload > Array.MaxLength)
            throw new InvalidDataException($"{path}: header declares {what} ({payload} bytes), more than one array can hold");
        if (stream is FileStream file && file.Length - headerBytes != payload)
            throw new InvalidDataException(file.Length - headerBytes < payload
                ? $"{path}: truncated: header declares {what} ({payload} bytes) but the file holds {file.Length - headerBytes}"
                : $"{path}: header declares {what} ({payload} bytes) but the file holds {file.Length - headerBytes}: counts disagree with the file size");
        if (payload > LargePayloadBytes && !GzipSizeAgrees(path, headerBytes + payload))
            throw new InvalidDataException($"{path}: header declares {what} but the gzip trailer gives another size: counts disagree with the file size");
        var data = new byte[payload];
        int read = DataFileReading.ReadFully(stream, data, path);
        if (read < payload)
            throw new InvalidDataException($"{path}: truncated: header declares {what} ({payload} bytes) but only {read} follow");
        if (!DataFileReading.AtEnd(stream, path))
            throw new InvalidDataException($"{path}: more data than the header declares ({what}): counts disagree with the file size");
        return data;
    }

    /// <summary>The gzip trailer's ISIZE (size mod 2^32 of a single-member file) against the expected size.</summary>
    static bool GzipSizeAgrees(string path, long expected)
    {
        using var file = File.OpenRead(path);
        if (file.Length < 4) return false;
        file.Position = file.Length - 4;
        Span<byte> trailer = stackalloc byte[4];
        file.ReadExactly(trailer);
        return BinaryPrimitives.ReadUInt32LittleEndian(trailer) == (uint)expected;
    }

    /// <summary>
    /// One split of an IDX data set in <paramref name="directory"/>: "train" or "t10k" prefixes,
    /// file names as published (with or without .gz). <paramref name="side"/>: the side every image of the data set has
    /// (Fashion-MNIST's 28), refused otherwise; null: any.
    /// </summary>
    public static InMemoryImageDataset LoadSplit(string directory, bool train, IReadOnlyList<string> classNames, int? side = null)
    {
        string prefix = train ? "train" : "t10k";
        string imagesPath = FindFile(directory, $"{prefix}-images-idx3-ubyte");
        string labelsPath = FindFile(directory, $"{prefix}-labels-idx1-ubyte");
        var images = ReadImages(imagesPath);
        // a split of no images crashed the trainer with a stack trace, and was scored NaN% by eval with exit 0; images of
        // another size were padded and cropped as if they were Fashion-MNIST's 28 px (a data audit of session 47)
        if (images.Count == 0) throw new InvalidDataException($"{imagesPath}: holds no images (its header counts 0)");
        if (side is int s && (images.Rows != s || images.Columns != s))
            throw new InvalidDataException($"{imagesPath}: images of {images.Rows}x{images.Columns} px; this data set's are {s}x{s}");
        var labels = ReadLabels(labelsPath, classNames.Count);
        if (labels.Length != images.Count)
            throw new InvalidDataException($"{labelsPath}: {labels.Length} labels for {images.Count} images in {imagesPath}");
        return new InMemoryImageDataset(images.Pixels, labels, 1, images.Rows, images.Columns, classNames);
    }

    /// <summary>The file named <paramref name="name"/> or <paramref name="name"/>.gz, or the MNIST variant with a dot. Both
    /// raw and gzipped (`gunzip -k` keeps both): the raw one, once the two are found to hold the same bytes; a pair that
    /// differs was read as the raw one without a word (a data audit of session 47), and is refused naming both.</summary>
    public static string FindFile(string directory, string name)
    {
        string dotted = name.Replace("-idx", ".idx");
        foreach (var candidate in new[] { name, dotted })
        {
            string raw = Path.Combine(directory, candidate), gzipped = raw + ".gz";
            bool hasRaw = File.Exists(raw), hasGzipped = File.Exists(gzipped);
            if (hasRaw && hasGzipped) RequireSameContent(raw, gzipped);
            if (hasRaw) return raw;
            if (hasGzipped) return gzipped;
        }
        throw new FileNotFoundException($"{Path.Combine(directory, name)}(.gz) not found", Path.Combine(directory, name));
    }

    static void RequireSameContent(string raw, string gzipped)
    {
        using var a = DataFileReading.Open(raw);
        using var b = DataFileReading.Open(gzipped);
        var (x, y) = (new byte[1 << 16], new byte[1 << 16]);
        while (true)
        {
            int n = a.ReadAtLeast(x, x.Length, throwOnEndOfStream: false), m;
            try { m = b.ReadAtLeast(y, y.Length, throwOnEndOfStream: false); }
            catch (InvalidDataException e) { throw new InvalidDataException($"{gzipped}: not a readable gzip file ({e.Message}); {raw} is beside it: remove one", e); }
            if (n != m || !x.AsSpan(0, n).SequenceEqual(y.AsSpan(0, m)))
                throw new InvalidDataException($"{raw} and {gzipped} hold different data: keep the one meant and remove the other");
            if (n == 0) return;
        }
    }

    public static bool HasSplit(string directory, bool train)
    {
        try { FindFile(directory, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte"); return true; }
        catch (FileNotFoundException) { return false; }
    }
}
