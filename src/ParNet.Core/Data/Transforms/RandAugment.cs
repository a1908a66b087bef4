namespace ParNet.Data;

/// <summary>
/// timm's RandAugment ("rand-m9-mstd0.5" by default, the released ParNet recipe): per image, pick
/// <see cref="OpsPerImage"/> ops from <see cref="OpNames"/> with replacement; each runs with probability 0.5
/// (timm's default) at a magnitude drawn from N(magnitude, magnitudeStd) clipped to [0, 10].
/// Geometric ops fill uncovered pixels with <see cref="Fill"/> (timm fills with the data set mean).
/// </summary>
public sealed class RandAugment(int opsPerImage = 2, double magnitude = 9, double magnitudeStd = 0.5,
                                double probability = 0.5, float[]? fill = null) : IImageTransform
{
    /// <summary>timm's _RAND_TRANSFORMS, in its order.</summary>
    public static readonly string[] OpNames =
    [
        "AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd",
        "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel",
    ];

    /// <summary>timm's _LEVEL_DENOM: magnitudes are on a 0-10 scale.</summary>
    public const double MaxMagnitude = 10;

    public int OpsPerImage { get; } = opsPerImage;
    public double Magnitude { get; } = magnitude;
    public double MagnitudeStd { get; } = magnitudeStd;
    public double Probability { get; } = probability;
    public float[] Fill { get; } = fill ?? DatasetInfo.ImageNetMean;

    public ImageF Apply(ImageF image, SampleRandom random)
    {
        for (int k = 0; k < OpsPerImage; k++)
        {
            int op = random.NextInt(OpNames.Length);
            if (Probability < 1 && random.NextDouble() > Probability) continue;
            double m = Magnitude;
            if (MagnitudeStd > 0) m += MagnitudeStd * random.NextGaussian();
            m = Math.Clamp(m, 0, MaxMagnitude);
            image = ApplyOp(OpNames[op], image, m / MaxMagnitude, random);
        }
        return image;
    }

    /// <summary>One op at level in [0, 1] (magnitude / 10), with timm's level-to-argument mappings.</summary>
    public ImageF ApplyOp(string name, ImageF image, double level, SampleRandom random)
    {
        double Signed(double value) => random.NextDouble() > 0.5 ? -value : value; // timm _randomly_negate
        float Enhance() => (float)(level * 1.8 + 0.1);
        switch (name)
        {
            case "AutoContrast": AutoContrast(image); return image;
            case "Equalize": Equalize(image); return image;
            case "Invert": PixelOps.LookupInPlace(image, (_, v) => 255 - v); return image;
            case "Rotate": return PixelOps.Rotate(image, Signed(30 * level), Fill);
            case "Posterize":
                int bits = (int)(level * 4);
                int mask = ~((1 << (8 - bits)) - 1) & 0xFF;
                if (bits < 8) PixelOps.LookupInPlace(image, (_, v) => v & mask);
                return image;
            case "Solarize":
                int threshold = Math.Min(256, (int)(level * 256));
                PixelOps.LookupInPlace(image, (_, v) => v < threshold ? v : 255 - v);
                return image;
            case "SolarizeAdd":
                int add = Math.Min(128, (int)(level * 110));
                PixelOps.LookupInPlace(image, (_, v) => v < 128 ? Math.Min(255, v + add) : v);
                return image;
            case "Color": PixelOps.Saturation(image, Enhance()); return image;
            case "Contrast": PixelOps.Contrast(image, Enhance()); return image;
            case "Brightness": PixelOps.Brightness(image, Enhance()); return image;
            case "Sharpness": Sharpness(image, Enhance()); return image;
            case "ShearX": return PixelOps.Affine(image, 1, Signed(0.3 * level), 0, 0, 1, 0, Fill);
            case "ShearY": return PixelOps.Affine(image, 1, 0, 0, Signed(0.3 * level), 1, 0, Fill);
            case "TranslateXRel": return PixelOps.Affine(image, 1, 0, Signed(0.45 * level) * image.Width, 0, 1, 0, Fill);
            case "TranslateYRel": return PixelOps.Affine(image, 1, 0, 0, 0, 1, Signed(0.45 * level) * image.Height, Fill);
            default: throw new ArgumentException($"unknown RandAugment op {name}");
        }
    }

    /// <summary>PIL ImageOps.autocontrast (cutoff 0): stretch each channel's 8-bit range to 0-255 (truncating, as PIL).</summary>
    static void AutoContrast(ImageF image)
    {
        var (low, high) = (new int[image.Channels], new int[image.Channels]);
        int plane = image.PlaneSize;
        for (int c = 0; c < image.Channels; c++)
        {
            low[c] = 255; high[c] = 0;
            foreach (float x in image.Data.AsSpan(c * plane, plane)) { int v = PixelOps.ToByte(x); low[c] = Math.Min(low[c], v); high[c] = Math.Max(high[c], v); }
        }
        PixelOps.LookupInPlace(image, (c, v) => high[c] <= low[c] ? v : (v - low[c]) * 255 / (high[c] - low[c])); // exact integer form of PIL's int(v * scale + offset)
    }

    /// <summary>PIL ImageOps.equalize: per-channel histogram equalization on 8-bit values.</summary>
    static void Equalize(ImageF image)
    {
        int plane = image.PlaneSize;
        var tables = new int[image.Channels][];
        for (int c = 0; c < image.Channels; c++)
        {
            var histogram = new int[256];
            foreach (float x in image.Data.AsSpan(c * plane, plane)) histogram[PixelOps.ToByte(x)]++;
            int last = 255;
            while (last > 0 && histogram[last] == 0) last--;
            int step = (plane - histogram[last]) / 255;
            var table = new int[256];
            if (step == 0) { for (int v = 0; v < 256; v++) table[v] = v; }
            else
            {
                int n = step / 2;
                for (int v = 0; v < 256; v++) { table[v] = Math.Min(255, n / step); n += histogram[v]; }
            }
            tables[c] = table;
        }
        PixelOps.LookupInPlace(image, (c, v) => tables[c][v]);
    }

    /// <summary>PIL ImageEnhance.Sharpness: blend with the SMOOTH-filtered image (border pixels kept).</summary>
    static void Sharpness(ImageF image, float factor)
    {
        int h = image.Height, w = image.Width, plane = image.PlaneSize;
        var smooth = (float[])image.Data.Clone();
        for (int c = 0; c < image.Channels; c++)
            for (int y = 1; y < h - 1; y++)
                for (int x = 1; x < w - 1; x++)
                {
                    int o = c * plane + y * w + x;
                    float sum = 4 * image.Data[o];
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++) sum += image.Data[o + dy * w + dx];
                    smooth[o] = sum / 13f;
                }
        PixelOps.BlendInPlace(image, factor, (c, i) => smooth[c * plane + i]);
    }

    public (int Channels, int Height, int Width) OutputShape((int Channels, int Height, int Width) input) => input;
}
