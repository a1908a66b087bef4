using System.IO.Compression;
using SkiaSharp;

namespace ParNet.Tests.Data;

/// <summary>A temp directory deleted at dispose, plus writers of the exact on-disk formats.</summary>
sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("parnet-data-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }

    /// <summary>Makes a FIFO (named pipe) NAME here with mkfifo(1), which .NET has no call for; returns its path.</summary>
    public string Fifo(string name)
    {
        string path = File(name);
        RunTool("/usr/bin/mkfifo", path);
        return path;
    }

    /// <summary>What is at PATH, as stat(1) names it without following a link: "fifo", "regular file", "symbolic link", ...</summary>
    public static string FileKind(string path) => RunTool("/usr/bin/stat", "-c", "%F", path).Trim();

    static string RunTool(string tool, params string[] args)
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(tool, args)
            { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string output = p.StandardOutput.ReadToEnd(), error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{tool} {string.Join(' ', args)}: {error}");
        return output;
    }

    public static byte[] BigEndian(int value) => [(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value];

    public static byte[] IdxImages(int count, int rows, int columns, Func<int, int, int, byte> pixel, int magic = 0x803)
    {
        var bytes = new List<byte>();
        bytes.AddRange(BigEndian(magic)); bytes.AddRange(BigEndian(count)); bytes.AddRange(BigEndian(rows)); bytes.AddRange(BigEndian(columns));
        for (int i = 0; i < count; i++)
            for (int y = 0; y < rows; y++)
                for (int x = 0; x < columns; x++) bytes.Add(pixel(i, y, x));
        return bytes.ToArray();
    }

    public static byte[] IdxLabels(byte[] labels, int magic = 0x801)
        => [.. BigEndian(magic), .. BigEndian(labels.Length), .. labels];

    public static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest)) gzip.Write(data);
        return output.ToArray();
    }

    /// <summary>Encodes an RGB image given per pixel; format PNG (lossless), JPEG or WebP.</summary>
    public static byte[] EncodeImage(int width, int height, Func<int, int, (byte R, byte G, byte B)> color, SKEncodedImageFormat format, int quality = 95)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                var (r, g, b) = color(x, y);
                bitmap.SetPixel(x, y, new SKColor(r, g, b));
            }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, quality);
        return data.ToArray();
    }
}
