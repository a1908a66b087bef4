using System.IO.Compression;
using ParNet.Models;
using ParNet.Weights;
using SkiaSharp;
using static TorchSharp.torch;

namespace ParNet.Fuzz;

/// <summary>Small valid files, one folder per target: where the fuzzer starts mutating.</summary>
public static class Seeds
{
    public static void Write(string root, string fixtures)
    {
        void Put(string target, string name, byte[] bytes)
        {
            Directory.CreateDirectory(Path.Combine(root, target));
            File.WriteAllBytes(Path.Combine(root, target, name), bytes);
        }

        var idx = Idx(0x803, [3, 4, 4], Enumerable.Range(0, 48).Select(i => (byte)(i * 5)).ToArray());
        Put("idx", "images.idx", idx);
        Put("idx", "images.idx.gz", Gzip(idx));
        Put("idx-labels", "labels.idx", Idx(0x801, [4], [0, 3, 9, 1]));
        Put("cifar", "two-records.bin", Enumerable.Range(0, 2 * 3073).Select(i => (byte)(i % 3073 == 0 ? i / 3073 : i * 7)).ToArray());

        string st = Path.Combine(Path.GetTempPath(), $"parnet-seed-{Environment.ProcessId}.safetensors");
        using (var a = arange(6, dtype: ScalarType.Float32).reshape(2, 3))
        using (var b = ones(4, dtype: ScalarType.Int64))
            StateDict.Write(new() { ["layer.weight"] = a, ["layer.num_batches_tracked"] = b }, st);
        Put("safetensors", "two-tensors.safetensors", File.ReadAllBytes(st));
        using (var w = arange(2, dtype: ScalarType.Float32))
            StateDict.Write(new() { ["w"] = w }, st, [new("model", "{}"), new("dataset", "fashion-mnist")]);
        Put("safetensors-metadata", "with-metadata.safetensors", File.ReadAllBytes(st));
        File.Delete(st);
        // small: AFL reads at most 1 MB of a seed, and a truncated zip teaches it nothing (the 2.5 MB fixture is read only
        // for its first tensors' layout)
        string pt = Path.Combine(Path.GetTempPath(), $"parnet-seed-{Environment.ProcessId}.pt");
        var fixture = StateDict.Read(Path.Combine(fixtures, "parnet_official_tiny_silu.pt"));
        using (var f = File.Create(pt))
            TorchSharp.PyBridge.PyTorchPickler.PickleStateDict(f, fixture.Where(kv => kv.Value.numel() <= 64).Take(6).ToDictionary());
        Put("pt", "six-tensors.pt", File.ReadAllBytes(pt));
        File.Delete(pt);
        foreach (var t in fixture.Values) t.Dispose();

        foreach (var (format, ext) in new[] { (SKEncodedImageFormat.Png, "png"), (SKEncodedImageFormat.Jpeg, "jpg"), (SKEncodedImageFormat.Webp, "webp") })
            Put("image", $"small.{ext}", Image(12, 9, format));

        Put("yaml", "planes_92_192_384_1280_num_blocks_5_6_6_1_sebv_13.yaml",   // as the authors released it
            "additional_branches:\n- - swish\ndropout_lin: 0.0\nnum_blocks:\n- 5\n- 6\n- 6\n- 1\nplanes:\n- 92\n- 192\n- 384\n- 1280\n"u8.ToArray());
        Put("config", "parnet_cifar_small.json", System.Text.Encoding.UTF8.GetBytes(ModelRegistry.Get("parnet_cifar_small").ToJson()));
    }

    static byte[] Idx(int magic, int[] dims, byte[] payload)
    {
        var bytes = new List<byte>();
        void Int(int v) => bytes.AddRange([(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v]);
        Int(magic);
        foreach (var d in dims) Int(d);
        bytes.AddRange(payload);
        return bytes.ToArray();
    }

    static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest)) gzip.Write(data);
        return output.ToArray();
    }

    static byte[] Image(int width, int height, SKEncodedImageFormat format)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) bitmap.SetPixel(x, y, new SKColor((byte)(x * 20), (byte)(y * 25), 90));
        using var data = bitmap.Encode(format, 90);
        return data.ToArray();
    }
}
