namespace ParNet.Data;

/// <summary>
/// Reads the binary versions of CIFAR-10 (data_batch_1..5.bin, test_batch.bin: 1 label byte + 3072 pixel
/// bytes per record) and CIFAR-100 (train.bin, test.bin: coarse label, fine label, 3072 pixel bytes).
/// Pixels are stored planar R, G, B (32x32 each), exactly as the files hold them.
/// </summary>
public static class CifarReader
{
    public const int Side = 32, Channels = 3, PixelBytes = Side * Side * Channels;

    public enum Cifar100Labels { Fine, Coarse }

    public static InMemoryImageDataset LoadCifar10(string directory, bool train)
    {
        var files = train
            ? Enumerable.Range(1, 5).Select(i => Path.Combine(directory, $"data_batch_{i}.bin")).ToArray()
            : [Path.Combine(directory, "test_batch.bin")];
        var names = ReadNames(Path.Combine(directory, "batches.meta.txt"), 10) ?? DatasetInfo.Cifar10.ClassNames;
        return Load(files, labelBytes: 1, labelOffset: 0, classCount: 10, names);
    }

    public static InMemoryImageDataset LoadCifar100(string directory, bool train, Cifar100Labels labels = Cifar100Labels.Fine)
    {
        string file = Path.Combine(directory, train ? "train.bin" : "test.bin");
        bool fine = labels == Cifar100Labels.Fine;
        int classCount = fine ? 100 : 20;
        var names = ReadNames(Path.Combine(directory, fine ? "fine_label_names.txt" : "coarse_label_names.txt"), classCount)
                    ?? DatasetInfo.PlaceholderClassNames(classCount);
        return Load([file], labelBytes: 2, labelOffset: fine ? 1 : 0, classCount, names);
    }

    static InMemoryImageDataset Load(string[] files, int labelBytes, int labelOffset, int classCount, IReadOnlyList<string> names)
    {
        int recordBytes = labelBytes + PixelBytes;
        long total = 0;
        foreach (var file in files)
        {
            if (!File.Exists(file)) throw new FileNotFoundException($"{file} not found", file);
            long length = new FileInfo(file).Length;
            if (length == 0 || length % recordBytes != 0)
                throw new InvalidDataException($"{file}: size {length} is not a positive multiple of the record size {recordBytes}");
            total += length / recordBytes;
        }
        if (total * PixelBytes > Array.MaxLength)
            throw new InvalidDataException($"{files[0]}: {total} images do not fit one array");
        var pixels = new byte[total * PixelBytes];
        var labels = new byte[total];
        var record = new byte[recordBytes];
        int index = 0;
        foreach (var file in files)
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            long records = stream.Length / recordBytes;
            for (long r = 0; r < records; r++, index++)
            {
                stream.ReadExactly(record);
                byte label = record[labelOffset];
                if (label >= classCount)
                    throw new InvalidDataException($"{file}: label {label} of record {r} is out of range (classes 0..{classCount - 1})");
                labels[index] = label;
                Array.Copy(record, labelBytes, pixels, (long)index * PixelBytes, PixelBytes);
            }
        }
        return new InMemoryImageDataset(pixels, labels, Channels, Side, Side, names);
    }

    /// <summary>Class names, one per non-empty line, or null when the file is absent; a wrong count is an error.</summary>
    static IReadOnlyList<string>? ReadNames(string path, int classCount)
    {
        if (!File.Exists(path)) return null;
        var names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length != classCount)
            throw new InvalidDataException($"{path}: {names.Length} class names for {classCount} classes");
        return names;
    }
}
