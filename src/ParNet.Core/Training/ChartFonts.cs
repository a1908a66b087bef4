namespace ParNet.Training;

/// <summary>
/// The font of every chart: DejaVu Sans (free licence, Fonts/DejaVuSans-LICENSE.txt), shipped beside the library
/// (Fonts/DejaVuSans.ttf in the output folder) and registered with ScottPlot by file, because SkiaSharp's
/// dependency-free Linux build finds system fonts only in the usual folders and a fresh Debian 12 may have none:
/// text would then be drawn as nothing. Registration happens once, before the first chart.
/// </summary>
public static class ChartFonts
{
    public const string Family = "ParNet DejaVu Sans";

    static readonly Lazy<string> Registered = new(() =>
    {
        string file = Path.Combine(AppContext.BaseDirectory, "Fonts", "DejaVuSans.ttf");
        if (!File.Exists(file)) throw new FileNotFoundException("the charts' font is missing from the output folder", file);
        ScottPlot.Fonts.AddFontFile(Family, file);
        return file;
    });

    /// <summary>The font file in use, registered with ScottPlot on first use.</summary>
    public static string FontFile => Registered.Value;
}
