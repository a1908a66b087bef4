using System.Globalization;
using SkiaSharp;

namespace ParNet.Training;

/// <summary>Simple PNG charts (SkiaSharp): line charts of training curves and a confusion-matrix heat map.</summary>
public static class Charts
{
    public sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points, SKColor Color);

    static readonly SKColor[] Palette = [new(0x1f, 0x77, 0xb4), new(0xff, 0x7f, 0x0e), new(0x2c, 0xa0, 0x2c), new(0xd6, 0x27, 0x28), new(0x94, 0x67, 0xbd)];
    public static SKColor Color(int i) => Palette[i % Palette.Length];

    static SKFont Font(float size) => new(SKTypeface.Default, size);

    public static void Line(string path, string title, string xLabel, IReadOnlyList<Series> series, int width = 800, int height = 500)
    {
        using var surface = SKSurface.Create(new SKImageInfo(width, height));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        const float left = 70, right = 20, top = 40, bottom = 50;
        float pw = width - left - right, ph = height - top - bottom;
        var all = series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.Y)).ToList();
        double x0 = all.Count > 0 ? all.Min(p => p.X) : 0, x1 = all.Count > 0 ? all.Max(p => p.X) : 1;
        double y0 = all.Count > 0 ? all.Min(p => p.Y) : 0, y1 = all.Count > 0 ? all.Max(p => p.Y) : 1;
        if (x1 <= x0) x1 = x0 + 1;
        if (y1 <= y0) { y1 = y0 + Math.Max(1e-6, Math.Abs(y0) * 0.1); }
        double pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
        float X(double x) => left + (float)((x - x0) / (x1 - x0)) * pw;
        float Y(double y) => top + ph - (float)((y - y0) / (y1 - y0)) * ph;

        using var axis = new SKPaint { Color = SKColors.Black, StrokeWidth = 1, IsAntialias = true, Style = SKPaintStyle.Stroke };
        using var grid = new SKPaint { Color = new SKColor(0xe0, 0xe0, 0xe0), StrokeWidth = 1, Style = SKPaintStyle.Stroke };
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var font = Font(13);
        using var titleFont = Font(16);
        for (int i = 0; i <= 5; i++)
        {
            double yv = y0 + (y1 - y0) * i / 5, xv = x0 + (x1 - x0) * i / 5;
            canvas.DrawLine(left, Y(yv), left + pw, Y(yv), grid);
            canvas.DrawText(Format(yv), 5, Y(yv) + 4, font, text);
            canvas.DrawText(Format(xv), X(xv) - 10, top + ph + 18, font, text);
        }
        canvas.DrawRect(left, top, pw, ph, axis);
        canvas.DrawText(title, left, 25, titleFont, text);
        canvas.DrawText(xLabel, left + pw / 2 - 20, height - 10, font, text);
        for (int s = 0; s < series.Count; s++)
        {
            using var paint = new SKPaint { Color = series[s].Color, StrokeWidth = 2, IsAntialias = true, Style = SKPaintStyle.Stroke };
            var pts = series[s].Points.Where(p => double.IsFinite(p.Y)).ToList();
            using var pathLine = new SKPath();
            for (int i = 0; i < pts.Count; i++)
                if (i == 0) pathLine.MoveTo(X(pts[i].X), Y(pts[i].Y)); else pathLine.LineTo(X(pts[i].X), Y(pts[i].Y));
            canvas.DrawPath(pathLine, paint);
            if (pts.Count == 1) canvas.DrawCircle(X(pts[0].X), Y(pts[0].Y), 3, paint);
            using var legend = new SKPaint { Color = series[s].Color, IsAntialias = true };
            canvas.DrawRect(left + pw - 150, top + 10 + 18 * s, 12, 12, legend);
            canvas.DrawText(series[s].Name, left + pw - 132, top + 21 + 18 * s, font, text);
        }
        Save(surface, path);
    }

    /// <summary>Rows = true class, columns = predicted; cells shaded by the row-normalized rate, counts written in.</summary>
    public static void Confusion(string path, long[,] matrix, IReadOnlyList<string> classNames)
    {
        int k = matrix.GetLength(0);
        int cell = Math.Clamp(600 / Math.Max(1, k), 8, 60);
        const int margin = 130;
        int size = margin + k * cell + 20;
        using var surface = SKSurface.Create(new SKImageInfo(size, size));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var font = Font(Math.Min(12, cell * 0.4f));
        using var labelFont = Font(12);
        canvas.DrawText("true \\ predicted", 5, 20, labelFont, text);
        for (int r = 0; r < k; r++)
        {
            long total = 0;
            for (int c = 0; c < k; c++) total += matrix[r, c];
            for (int c = 0; c < k; c++)
            {
                double rate = total > 0 ? (double)matrix[r, c] / total : 0;
                byte shade = (byte)(255 - 200 * rate);
                using var fill = new SKPaint { Color = new SKColor(shade, shade, 255) };
                canvas.DrawRect(margin + c * cell, margin + r * cell, cell, cell, fill);
                if (cell >= 24)
                {
                    using var t = new SKPaint { Color = rate > 0.5 ? SKColors.White : SKColors.Black, IsAntialias = true };
                    canvas.DrawText(matrix[r, c].ToString(CultureInfo.InvariantCulture), margin + c * cell + 3, margin + r * cell + cell * 0.6f, font, t);
                }
            }
            if (k <= 40)
            {
                canvas.DrawText(Short(classNames.ElementAtOrDefault(r) ?? r.ToString(CultureInfo.InvariantCulture)), 5, margin + r * cell + cell * 0.6f, labelFont, text);
                canvas.Save();
                canvas.RotateDegrees(-90, margin + r * cell + cell * 0.6f, margin - 5);
                canvas.DrawText(Short(classNames.ElementAtOrDefault(r) ?? r.ToString(CultureInfo.InvariantCulture)), margin + r * cell + cell * 0.6f, margin - 5, labelFont, text);
                canvas.Restore();
            }
        }
        Save(surface, path);
    }

    static string Short(string s) => s.Length > 16 ? s[..16] : s;

    static string Format(double v) => Math.Abs(v) >= 100 ? v.ToString("0", CultureInfo.InvariantCulture)
        : Math.Abs(v) >= 1 ? v.ToString("0.##", CultureInfo.InvariantCulture) : v.ToString("0.####", CultureInfo.InvariantCulture);

    static void Save(SKSurface surface, string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        string tmp = path + ".tmp";
        using (var f = File.Create(tmp)) data.SaveTo(f);
        File.Move(tmp, path, overwrite: true);
    }
}
