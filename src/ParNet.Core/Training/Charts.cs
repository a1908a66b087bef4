using System.Globalization;
using ParNet.Runtime;
using ScottPlot;

namespace ParNet.Training;

/// <summary>
/// PNG charts drawn with ScottPlot 5: training curves (whole-epoch ticks, legend beside the data area), the
/// confusion-matrix heat map, and horizontal bar charts whose value axis turns logarithmic when the values
/// span more than <see cref="LogAxisRatio"/>. Text uses <see cref="ChartFonts"/>, a font shipped with the
/// library, so that charts have labels on machines without system fonts.
/// </summary>
public static class Charts
{
    /// <summary>A curve of <see cref="Line"/>; <see cref="YSpread"/>, one per point: a +- whisker drawn at each (a study's
    /// standard deviation over seeds), or null for none.</summary>
    public sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points, Color Color, IReadOnlyList<double>? YSpread = null);

    /// <summary>One bar of <see cref="HorizontalBars"/>: a value with an optional min-max whisker.</summary>
    public sealed record BarItem(string Label, double Value, double? Min, double? Max, Color Color);

    // the matplotlib "tab10" colours: familiar from PyTorch plots, distinct for the colour-blind's common types
    static readonly Color[] Palette = [new(0x1f, 0x77, 0xb4), new(0xff, 0x7f, 0x0e), new(0x2c, 0xa0, 0x2c), new(0xd6, 0x27, 0x28), new(0x94, 0x67, 0xbd)];
    public static Color Color(int i) => Palette[i % Palette.Length];

    /// <summary>Above this max/min ratio a value axis is logarithmic, so that one outlier does not flatten every other bar.</summary>
    public const double LogAxisRatio = 10;

    static Plot NewPlot(string title)
    {
        _ = ChartFonts.FontFile;
        var plot = new Plot();
        plot.Font.Set(ChartFonts.Family);
        plot.Title(title);
        return plot;
    }

    public static void Line(string path, string title, string xLabel, IReadOnlyList<Series> series, int width = 800, int height = 500)
    {
        var plot = NewPlot(title);
        plot.XLabel(xLabel);
        foreach (var s in series)
        {
            if (s.YSpread is { } spread && spread.Count != s.Points.Count)
                throw new ArgumentException($"series {s.Name}: {spread.Count} spreads for {s.Points.Count} points");
            var kept = s.Points.Select((p, i) => (p.X, p.Y, Spread: s.YSpread?[i] ?? double.NaN)).Where(p => double.IsFinite(p.Y)).ToArray();
            var points = kept.Select(p => (p.X, p.Y)).ToArray();
            if (points.Length == 0) continue;
            if (kept.Any(p => double.IsFinite(p.Spread)))   // a curve's means alone looked like trends the seeds do not support (study audit, session 46)
            {
                var whiskers = plot.Add.ErrorBar(kept.Select(p => p.X).ToArray(), kept.Select(p => p.Y).ToArray(),
                                                 kept.Select(p => double.IsFinite(p.Spread) ? p.Spread : 0).ToArray());
                whiskers.Color = s.Color;
            }
            var line = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray(), s.Color);
            if (series.Count > 1) line.LegendText = s.Name;   // a lone curve is named by the title
            line.LineWidth = 2;
            line.MarkerSize = points.Length <= 40 ? 5 : 0;   // markers show the epochs while there are few enough to tell apart
        }
        var xs = series.SelectMany(s => s.Points).Select(p => p.X).ToArray();
        if (xs.Length > 0)
        {
            var ticks = WholeTicks(xs.Min(), xs.Max());
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks, ticks.Select(t => t.ToString(CultureInfo.InvariantCulture)).ToArray());
            double pad = Math.Max(0.25, (xs.Max() - xs.Min()) * 0.03);
            plot.Axes.SetLimitsX(xs.Min() - pad, xs.Max() + pad);
        }
        if (series.Count > 1) plot.ShowLegend(Edge.Right);
        Save(plot, path, width, height);
    }

    /// <summary>
    /// Whole-number tick positions from min to max: every integer when there are at most
    /// <paramref name="maxTicks"/>, else every 2nd, 5th, 10th, 20th, ... (the first step giving no more).
    /// </summary>
    public static double[] WholeTicks(double min, double max, int maxTicks = 10)
    {
        long first = (long)Math.Ceiling(min), last = (long)Math.Floor(max);
        if (last < first) return [Math.Round(min)];
        long step = 1;
        for (int i = 0; (last - first) / step + 1 > maxTicks; i++) step = (i % 3) switch { 0 => step * 2, 1 => step / 2 * 5, _ => step * 2 };
        long start = (long)Math.Ceiling(first / (double)step) * step;
        var ticks = new List<double>();
        for (long t = start; t <= last; t += step) ticks.Add(t);
        if (ticks.Count == 0) ticks.Add(first);
        return ticks.ToArray();
    }

    /// <summary>Whether values spanning [min, max] (all positive) need a logarithmic axis.</summary>
    public static bool NeedsLogAxis(double min, double max) => min > 0 && max / min > LogAxisRatio;

    /// <summary>Major ticks at 1, 2, 5 x 10^k covering [min, max] (positive), for a log axis.</summary>
    public static double[] LogTicks(double min, double max)
    {
        var ticks = new List<double>();
        for (int k = (int)Math.Floor(Math.Log10(min)); k <= (int)Math.Ceiling(Math.Log10(max)); k++)
            foreach (double m in new[] { 1.0, 2.0, 5.0 })
            {
                double v = m * Math.Pow(10, k);
                if (v >= min / 1.0001 && v <= max * 1.0001) ticks.Add(v);
            }
        return ticks.ToArray();
    }

    /// <summary>
    /// Horizontal bars, labels in full on the category axis, the first item on top; the value axis is
    /// logarithmic when <see cref="NeedsLogAxis"/> says so. Returns whether it was.
    /// </summary>
    public static bool HorizontalBars(string path, string title, string valueLabel, IReadOnlyList<BarItem> items,
                                      IReadOnlyList<(string Name, Color Color)> legend, int width = 1000)
    {
        var plot = NewPlot(title);
        var values = items.SelectMany(b => new[] { b.Value, b.Min ?? b.Value, b.Max ?? b.Value }).Where(v => v > 0).ToArray();
        double lo = values.Length > 0 ? values.Min() : 1, hi = values.Length > 0 ? values.Max() : 1;
        bool log = NeedsLogAxis(lo, hi);
        plot.XLabel(log ? valueLabel + ", log scale" : valueLabel);
        Func<double, double> X = log ? Math.Log10 : v => v;
        double axisStart = log ? Math.Log10(lo / 1.5) : 0;   // log bars start a little left of the smallest value
        var bars = items.Select((b, i) => new Bar
        {
            Position = i, Value = X(b.Value), ValueBase = axisStart, FillColor = b.Color, LineWidth = 0, Size = 0.7,
        }).ToList();
        plot.Add.Bars(bars).Horizontal = true;
        for (int i = 0; i < items.Count; i++)
        {
            if (items[i].Min is double min && items[i].Max is double max)
            {
                var whisker = plot.Add.Line(X(min), i, X(max), i);
                whisker.Color = Colors.Black; whisker.LineWidth = 1.5f;
            }
            var label = plot.Add.Text(items[i].Value.ToString(items[i].Value >= 100 ? "F0" : "F1", CultureInfo.InvariantCulture), X(items[i].Max ?? items[i].Value), i);
            label.LabelFontSize = 12; label.LabelAlignment = Alignment.MiddleLeft; label.OffsetX = 4;
            label.LabelFontName = ChartFonts.Family;
        }
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, items.Count).Select(i => (double)i).ToArray(), items.Select(b => b.Label).ToArray());
        plot.Axes.Left.MajorTickStyle.Length = 0;
        plot.Axes.SetLimitsY(items.Count - 0.5, -0.5);   // inverted: the first item on top
        double right = X(hi) + (X(hi) - axisStart) * 0.12;   // room for the value labels
        plot.Axes.SetLimitsX(axisStart, right);
        if (log)
        {
            var ticks = new ScottPlot.TickGenerators.NumericManual();
            foreach (var t in LogTicks(lo / 1.5, hi)) ticks.AddMajor(Math.Log10(t), t.ToString("G4", CultureInfo.InvariantCulture));
            for (int k = (int)Math.Floor(Math.Log10(lo / 1.5)); k <= (int)Math.Ceiling(Math.Log10(hi)); k++)
                for (int m = 1; m <= 9; m++) ticks.AddMinor(Math.Log10(m * Math.Pow(10, k)));
            plot.Axes.Bottom.TickGenerator = ticks;
        }
        foreach (var (name, color) in legend) plot.Legend.ManualItems.Add(new LegendItem { LabelText = name, FillColor = color });
        if (legend.Count > 0) plot.ShowLegend(Edge.Bottom);
        Save(plot, path, width, 130 + Math.Max(1, items.Count) * 30 + (legend.Count > 0 ? 40 : 0));
        return log;
    }

    /// <summary>Rows = true class, columns = predicted; cells shaded by the row-normalized rate, counts written in.</summary>
    public static void Confusion(string path, long[,] matrix, IReadOnlyList<string> classNames)
    {
        int k = matrix.GetLength(0);
        var rates = new double[k, k];
        for (int r = 0; r < k; r++)
        {
            long total = 0;
            for (int c = 0; c < k; c++) total += matrix[r, c];
            for (int c = 0; c < k; c++) rates[r, c] = total > 0 ? (double)matrix[r, c] / total : 0;
        }
        var plot = NewPlot("confusion matrix (shade: fraction of the true class's images)");
        var heat = plot.Add.Heatmap(rates);
        heat.Colormap = new ScottPlot.Colormaps.Blues().Reversed();   // white = 0, dark blue = all of the row
        heat.ManualRange = new ScottPlot.Range(0, 1);
        heat.Rectangle = new CoordinateRect(-0.5, k - 0.5, -0.5, k - 0.5);   // outer edges: cell (r, c) centred on (x = c, y = r)
        plot.Add.ColorBar(heat);
        if (k <= 30)   // counts and names stay legible up to about 30 classes at this size
        {
            for (int r = 0; r < k; r++)
                for (int c = 0; c < k; c++)
                {
                    var count = plot.Add.Text(matrix[r, c].ToString(CultureInfo.InvariantCulture), c, r);
                    count.LabelAlignment = Alignment.MiddleCenter;
                    count.LabelFontSize = k <= 12 ? 13 : 9;
                    count.LabelFontName = ChartFonts.Family;
                    count.LabelFontColor = rates[r, c] > 0.5 ? Colors.White : Colors.Black;
                }
            var positions = Enumerable.Range(0, k).Select(i => (double)i).ToArray();
            var names = Enumerable.Range(0, k).Select(i => classNames.ElementAtOrDefault(i) ?? i.ToString(CultureInfo.InvariantCulture)).ToArray();
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions, names);
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions, names);
            plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
            plot.Axes.Bottom.MinimumSize = 110;   // room for the slanted names (about 16 characters) and the axis label
        }
        plot.XLabel("predicted");
        plot.YLabel("true");
        plot.Axes.SetLimits(-0.5, k - 0.5, k - 0.5, -0.5);   // row 0 on top, as in the CSV
        Save(plot, path, 820, 760);
    }

    static void Save(Plot plot, string path, int width, int height) =>
        AtomicFile.Write(path, temporary => plot.SavePng(temporary, width, height), ".tmp.png");
}
