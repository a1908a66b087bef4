namespace ParNet.Data;

/// <summary>Colour and geometry primitives shared by ColorJitter and RandAugment (PIL semantics on [0, 1] floats).</summary>
public static class PixelOps
{
    /// <summary>ITU-R 601 luma of pixel i (the channel itself for grey images).</summary>
    public static float Luma(ImageF image, int i)
    {
        if (image.Channels < 3) return image.Data[i];
        int plane = image.PlaneSize;
        return Luma(image.Data[i], image.Data[plane + i], image.Data[2 * plane + i]);
    }

    /// <summary>ITU-R 601 luma of RGB in [0, 1], the weights of PIL's convert("L") (in float here).</summary>
    public static float Luma(float r, float g, float b) => 0.299f * r + 0.587f * g + 0.114f * b;

    /// <summary>x = clamp(factor * x + (1 - factor) * degenerate[i]), PIL's ImageEnhance blend.</summary>
    public static void BlendInPlace(ImageF image, float factor, Func<int, int, float> degenerate)
    {
        int plane = image.PlaneSize;
        for (int c = 0; c < image.Channels; c++)
            for (int i = 0; i < plane; i++)
            {
                ref float x = ref image.Data[c * plane + i];
                x = Math.Clamp(factor * x + (1 - factor) * degenerate(c, i), 0f, 1f);
            }
    }

    public static void Brightness(ImageF image, float factor) => BlendInPlace(image, factor, (_, _) => 0f);

    public static void Contrast(ImageF image, float factor)
    {
        double sum = 0;
        for (int i = 0; i < image.PlaneSize; i++) sum += Luma(image, i);
        float mean = (float)(sum / image.PlaneSize);
        BlendInPlace(image, factor, (_, _) => mean);
    }

    public static void Saturation(ImageF image, float factor)
    {
        if (image.Channels < 3) return;
        var grey = new float[image.PlaneSize];
        for (int i = 0; i < grey.Length; i++) grey[i] = Luma(image, i);
        BlendInPlace(image, factor, (_, i) => grey[i]);
    }

    /// <summary>Shift hue by <paramref name="shift"/> turns (in [-0.5, 0.5]) through HSV.</summary>
    public static void Hue(ImageF image, float shift)
    {
        if (image.Channels < 3) return;
        int plane = image.PlaneSize;
        var d = image.Data;
        for (int i = 0; i < plane; i++)
        {
            float r = d[i], g = d[plane + i], b = d[2 * plane + i];
            float max = Math.Max(r, Math.Max(g, b)), min = Math.Min(r, Math.Min(g, b)), delta = max - min;
            if (delta <= 0) continue;
            float h = max == r ? (g - b) / delta : max == g ? 2 + (b - r) / delta : 4 + (r - g) / delta;
            h = h / 6f + shift;
            h -= MathF.Floor(h);
            float s = delta / max, v = max;
            float hh = h * 6f;
            int sector = (int)hh % 6;
            float f = hh - MathF.Floor(hh), p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
            (r, g, b) = sector switch { 0 => (v, t, p), 1 => (q, v, p), 2 => (p, v, t), 3 => (p, q, v), 4 => (t, p, v), _ => (v, p, q) };
            d[i] = r; d[plane + i] = g; d[2 * plane + i] = b;
        }
    }

    /// <summary>
    /// Inverse-mapped affine warp: output pixel (x, y) samples the input at (a x + b y + c, d x + e y + f)
    /// (pixel-centre coordinates) with bilinear interpolation; points outside take fill[channel].
    /// </summary>
    public static ImageF Affine(ImageF image, double a, double b, double c, double d, double e, double f, float[] fill)
    {
        var result = new ImageF(image.Channels, image.Height, image.Width);
        int h = image.Height, w = image.Width, plane = image.PlaneSize;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                double sx = a * (x + 0.5) + b * (y + 0.5) + c - 0.5;
                double sy = d * (x + 0.5) + e * (y + 0.5) + f - 0.5;
                int o = y * w + x;
                if (sx < -0.5 || sy < -0.5 || sx > w - 0.5 || sy > h - 0.5)
                {
                    for (int ch = 0; ch < image.Channels; ch++) result.Data[ch * plane + o] = fill[Math.Min(ch, fill.Length - 1)];
                    continue;
                }
                int x0 = (int)Math.Floor(sx), y0 = (int)Math.Floor(sy);
                float fx = (float)(sx - x0), fy = (float)(sy - y0);
                int xa = Math.Clamp(x0, 0, w - 1), xb = Math.Clamp(x0 + 1, 0, w - 1);
                int ya = Math.Clamp(y0, 0, h - 1), yb = Math.Clamp(y0 + 1, 0, h - 1);
                for (int ch = 0; ch < image.Channels; ch++)
                {
                    int p = ch * plane;
                    float top = image.Data[p + ya * w + xa] * (1 - fx) + image.Data[p + ya * w + xb] * fx;
                    float bottom = image.Data[p + yb * w + xa] * (1 - fx) + image.Data[p + yb * w + xb] * fx;
                    result.Data[p + o] = top * (1 - fy) + bottom * fy;
                }
            }
        return result;
    }

    /// <summary>PIL Image.rotate(degrees): counter-clockwise about the centre, same size.</summary>
    public static ImageF Rotate(ImageF image, double degrees, float[] fill)
    {
        double t = degrees * Math.PI / 180, cos = Math.Cos(t), sin = Math.Sin(t);
        double cx = image.Width / 2.0, cy = image.Height / 2.0;
        return Affine(image, cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, fill);
    }

    /// <summary>Quantize to the 8-bit level PIL would store.</summary>
    public static int ToByte(float x) => Math.Clamp((int)(x * 255f + 0.5f), 0, 255);

    /// <summary>Apply a 256-entry table to the 8-bit value of every sample.</summary>
    public static void LookupInPlace(ImageF image, Func<int, int, int> table)
    {
        int plane = image.PlaneSize;
        for (int c = 0; c < image.Channels; c++)
        {
            var lut = new float[256];
            for (int v = 0; v < 256; v++) lut[v] = Math.Clamp(table(c, v), 0, 255) / 255f;
            var span = image.Data.AsSpan(c * plane, plane);
            for (int i = 0; i < span.Length; i++) span[i] = lut[ToByte(span[i])];
        }
    }
}
