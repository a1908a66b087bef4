using ParNet.Data;

namespace ParNet.Tests.Data;

public class CifarReaderTests
{
    const int Pixels = 3072;
    static byte PixelOf(int record, int offset) => (byte)((record * 31 + offset * 7) % 251);

    static byte[] Records(int count, int labelBytes, Func<int, byte[]> labels)
    {
        var bytes = new List<byte>();
        for (int r = 0; r < count; r++)
        {
            bytes.AddRange(labels(r)[..labelBytes]);
            for (int p = 0; p < Pixels; p++) bytes.Add(PixelOf(r, p));
        }
        return bytes.ToArray();
    }

    [Fact]
    public void Cifar10_reads_planar_pixels_labels_and_meta_names()
    {
        using var dir = new TempDirectory();
        for (int b = 1; b <= 5; b++)
            System.IO.File.WriteAllBytes(dir.File($"data_batch_{b}.bin"), Records(2, 1, r => [(byte)((b + r) % 10)]));
        var names = Enumerable.Range(0, 10).Select(i => $"name{i}").ToArray();
        System.IO.File.WriteAllLines(dir.File("batches.meta.txt"), [.. names, "", ""]);
        var train = CifarReader.LoadCifar10(dir.Path, train: true);
        Assert.Equal(10, train.Count);
        Assert.Equal(names, train.ClassNames);
        Assert.Equal((1 + 1) % 10, train.LabelOf(1)); // batch 1, record 1
        Assert.Equal((3 + 0) % 10, train.LabelOf(4)); // batch 3, record 0
        var image = train.Load(1);
        Assert.Equal(PixelOf(1, 0) / 255f, image[0, 0, 0], 6);          // red plane first
        Assert.Equal(PixelOf(1, 1024 + 33) / 255f, image[1, 1, 1], 6);  // green (row 1, col 1)
        Assert.Equal(PixelOf(1, 2048 + 32 * 31 + 5) / 255f, image[2, 31, 5], 6);
    }

    [Fact]
    public void Cifar100_reads_fine_or_coarse_labels()
    {
        using var dir = new TempDirectory();
        System.IO.File.WriteAllBytes(dir.File("test.bin"), Records(3, 2, r => [(byte)(r + 17), (byte)(r * 40 + 5)]));
        System.IO.File.WriteAllLines(dir.File("fine_label_names.txt"), Enumerable.Range(0, 100).Select(i => $"fine{i}"));
        var fine = CifarReader.LoadCifar100(dir.Path, train: false);
        var coarse = CifarReader.LoadCifar100(dir.Path, train: false, CifarReader.Cifar100Labels.Coarse);
        Assert.Equal([5, 45, 85], Enumerable.Range(0, 3).Select(fine.LabelOf));
        Assert.Equal([17, 18, 19], Enumerable.Range(0, 3).Select(coarse.LabelOf));
        Assert.Equal("fine45", fine.ClassNames[45]);
        Assert.Equal(20, coarse.ClassNames.Count);
        Assert.Equal(PixelOf(2, 3071) / 255f, fine.Load(2)[2, 31, 31], 6);
    }

    [Fact]
    public void Size_not_a_multiple_of_the_record_is_rejected()
    {
        using var dir = new TempDirectory();
        System.IO.File.WriteAllBytes(dir.File("test_batch.bin"), Records(2, 1, _ => [1])[..^1]);
        var e = Assert.Throws<InvalidDataException>(() => CifarReader.LoadCifar10(dir.Path, train: false));
        Assert.Contains("test_batch.bin", e.Message);
        Assert.Contains("3073", e.Message);
    }

    [Fact]
    public void Label_out_of_range_is_rejected()
    {
        using var dir = new TempDirectory();
        System.IO.File.WriteAllBytes(dir.File("test_batch.bin"), Records(2, 1, r => [(byte)(r == 1 ? 10 : 0)]));
        var e = Assert.Throws<InvalidDataException>(() => CifarReader.LoadCifar10(dir.Path, train: false));
        Assert.Contains("label 10 of record 1", e.Message);
    }

    [Fact]
    public void Wrong_number_of_class_names_is_rejected()
    {
        using var dir = new TempDirectory();
        System.IO.File.WriteAllBytes(dir.File("test_batch.bin"), Records(1, 1, _ => [0]));
        System.IO.File.WriteAllLines(dir.File("batches.meta.txt"), ["only", "three", "names"]);
        Assert.Throws<InvalidDataException>(() => CifarReader.LoadCifar10(dir.Path, train: false));
    }
}
