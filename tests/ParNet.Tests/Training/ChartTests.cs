using ParNet.Benchmarking;
using ParNet.Models;
using ParNet.Tests.Data;
using ParNet.Training;
using SkiaSharp;

namespace ParNet.Tests.Training;

public class ChartTests
{
    [Theory]
    [InlineData(1, 3, new double[] { 1, 2, 3 })]
    [InlineData(1, 10, new double[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 })]
    [InlineData(1, 36, new double[] { 5, 10, 15, 20, 25, 30, 35 })]
    [InlineData(1, 17, new double[] { 2, 4, 6, 8, 10, 12, 14, 16 })]
    [InlineData(0.5, 1.5, new double[] { 1 })]
    [InlineData(1, 300, new double[] { 50, 100, 150, 200, 250, 300 })]
    public void EpochTicksAreWholeNumbersWithinTheRange(double min, double max, double[] expected)
    {
        var ticks = Charts.WholeTicks(min, max);
        Assert.Equal(expected, ticks);
        Assert.All(ticks, t => Assert.Equal(Math.Round(t), t));
    }

    [Fact]
    public void Log_axis_only_when_values_span_more_than_ten_times()
    {
        Assert.False(Charts.NeedsLogAxis(26, 255));   // 9.8x
        Assert.True(Charts.NeedsLogAxis(24, 5000));
        Assert.False(Charts.NeedsLogAxis(0, 5000));    // a zero has no logarithm
        Assert.Equal([20, 50, 100, 200, 500, 1000, 2000, 5000], Charts.LogTicks(15, 5000));
    }

    /// <summary>A study's curves showed means alone, on an axis zoomed to them: a rise and fall the seeds do not support (study
    /// audit, session 46). A spread draws a whisker at each point: the curve's colour then reaches far above and below it.</summary>
    [Fact]
    public void A_curves_spread_is_drawn_as_whiskers_at_its_points()
    {
        using var dir = new TempDir();
        string Drawn(string name, IReadOnlyList<double>? spread)
        {
            string path = Path.Combine(dir.Path, name);
            Charts.Line(path, "t", "x", [new Charts.Series("s", [(1, 50), (2, 50.5), (3, 50)], Charts.Color(0), spread)]);
            return path;
        }
        // rows holding the curve's colour near its first point (the 12 columns from its leftmost pixel): the marker and the line's
        // first pixels, and with a spread the whisker through the point, from its cap above to its cap below
        int RowsAtTheFirstPoint(string path)
        {
            using var bitmap = SKBitmap.Decode(path);
            var c = Charts.Color(0);
            // the colour over white at some opacity (its lines are antialiased): each channel as far from white in proportion
            bool Curve(int x, int y)
            {
                var p = bitmap.GetPixel(x, y);
                double[] a = [(255.0 - p.Red) / (255 - c.R), (255.0 - p.Green) / (255 - c.G), (255.0 - p.Blue) / (255 - c.B)];
                return a.Min() >= 0.3 && a.Max() - a.Min() <= 0.15;
            }
            int left = Enumerable.Range(0, bitmap.Width).First(x => Enumerable.Range(0, bitmap.Height).Any(y => Curve(x, y)));
            return Enumerable.Range(0, bitmap.Height).Count(y => Enumerable.Range(left, 12).Any(x => Curve(x, y)));
        }
        int plain = RowsAtTheFirstPoint(Drawn("plain.png", null)), whiskers = RowsAtTheFirstPoint(Drawn("whiskers.png", [20, 20, 20]));
        using (var bitmap = SKBitmap.Decode(Path.Combine(dir.Path, "whiskers.png")))
            Assert.True(whiskers > bitmap.Height / 2 && plain < bitmap.Height / 10, $"{whiskers} rows with whiskers, {plain} without, of {bitmap.Height}");
        Assert.Throws<ArgumentException>(() => Drawn("bad.png", [1, 2]));
    }

    static BenchmarkResult Row(string key, string name, double ms) => new()
    {
        Key = key, Name = name, Engine = "TorchSharp", GflopPerImage = 1, Batch = 8,
        Latency = new TimingStats(ms / 1e3, ms / 1e3 * 0.9, ms / 1e3 * 1.2, 20), BatchTime = new TimingStats(0.1, 0.1, 0.1, 4),
    };

    static BenchmarkReport Report(params BenchmarkResult[] rows) => new()
    {
        Options = new InferenceBenchmarkOptions { Model = ModelRegistry.Get("parnet_s"), Threads = 2 },
        Conditions = BenchmarkConditions.Unrecorded,
        MatmulGflops = 100, MatmulGflopsMedian = 100, Results = rows,
    };

    [Fact]
    public void Bench_chart_is_logarithmic_for_an_outlier_and_grows_with_the_rows()
    {
        using var dir = new TempDir();
        string even = Path.Combine(dir.Path, "even.png"), outlier = Path.Combine(dir.Path, "outlier.png");
        Assert.False(BenchmarkReportWriter.Chart(Report(Row("fused", "parnet_s fused", 40), Row("resnet18", "TorchVision resnet18", 26)), even));
        Assert.True(BenchmarkReportWriter.Chart(Report(Row("unfused", "authors' ParNet [96, 192, 384, 1280] silu unfused", 5000),
            Row("fused", "parnet_s fused", 40), Row("resnet18", "TorchVision resnet18", 26)), outlier));
        using var a = SKBitmap.Decode(even);
        using var b = SKBitmap.Decode(outlier);
        Assert.Equal(1000, a.Width);
        Assert.Equal(30, b.Height - a.Height);   // one row more, 30 px each
    }

    [Fact]
    public void Confusion_PNG_decodes()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "c.png");
        Charts.Confusion(path, new long[,] { { 5, 1 }, { 0, 6 } }, ["cat", "dog"]);
        using var png = SKBitmap.Decode(path);
        Assert.Equal((820, 760), (png.Width, png.Height));
    }

    [Fact]
    public void A_chart_is_drawn_through_a_symbolic_link_and_refused_on_a_fifo()
    {
        using var dir = new TempDirectory();
        string target = dir.File("c.png"), link = dir.File("latest.png"), fifo = dir.Fifo("pipe.png");
        File.CreateSymbolicLink(link, target);
        Charts.Confusion(link, new long[,] { { 5, 1 }, { 0, 6 } }, ["cat", "dog"]);
        Assert.Equal("symbolic link", TempDirectory.FileKind(link));
        using (var png = SKBitmap.Decode(target)) Assert.Equal((820, 760), (png.Width, png.Height));
        var e = Assert.Throws<IOException>(() => Charts.Confusion(fifo, new long[,] { { 1 } }, ["cat"]));
        Assert.Equal($"{fifo} is a FIFO, not a regular file; not replaced", e.Message);
        Assert.Equal("fifo", TempDirectory.FileKind(fifo));
    }

    [Fact]
    public void The_chart_font_ships_with_the_library() => Assert.True(new FileInfo(ChartFonts.FontFile).Length > 100_000);
}
