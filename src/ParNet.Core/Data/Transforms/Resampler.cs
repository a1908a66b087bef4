namespace ParNet.Data;

public enum ResampleFilter { Bilinear, Bicubic }

/// <summary>
/// Separable resampling of a box of the source image to a new size, with the filter widened when
/// shrinking (antialiasing), as PIL does (so results match torchvision on PIL images closely).
/// Bicubic uses a = -0.5 like PIL.
/// </summary>
public static class Resampler
{
    public static ImageF Resize(ImageF source, int outHeight, int outWidth, ResampleFilter filter)
        => ResizeBox(source, 0, 0, source.Height, source.Width, outHeight, outWidth, filter);

    /// <summary>Resamples the box [top, top+height) x [left, left+width) (source pixels) to outHeight x outWidth. The filter's
    /// taps reach past the box into the rest of the image (a part of the whole image's resize, as PIL's resize with a box),
    /// or with <paramref name="tapsInsideBox"/> stop at its edges (the box cropped first, then resized: torchvision's
    /// resized_crop), without copying it.</summary>
    public static ImageF ResizeBox(ImageF source, double top, double left, double height, double width,
                                   int outHeight, int outWidth, ResampleFilter filter, bool tapsInsideBox = false)
    {
        var (xStart, xCount, xWeights, xTaps) = Coefficients(left, width, source.Width, outWidth, filter, tapsInsideBox);
        var (yStart, yCount, yWeights, yTaps) = Coefficients(top, height, source.Height, outHeight, filter, tapsInsideBox);
        int rowMin = int.MaxValue, rowMax = 0;
        for (int y = 0; y < outHeight; y++)
        {
            rowMin = Math.Min(rowMin, yStart[y]);
            rowMax = Math.Max(rowMax, yStart[y] + yCount[y]);
        }
        int rows = rowMax - rowMin;
        var result = new ImageF(source.Channels, outHeight, outWidth);
        var horizontal = new float[rows * outWidth];
        for (int c = 0; c < source.Channels; c++)
        {
            int planeOffset = c * source.PlaneSize;
            for (int r = 0; r < rows; r++)
            {
                int rowOffset = planeOffset + (rowMin + r) * source.Width;
                for (int x = 0; x < outWidth; x++)
                {
                    float sum = 0;
                    int w0 = x * xTaps, s0 = rowOffset + xStart[x];
                    for (int k = 0; k < xCount[x]; k++) sum += xWeights[w0 + k] * source.Data[s0 + k];
                    horizontal[r * outWidth + x] = sum;
                }
            }
            int outPlane = c * outHeight * outWidth;
            for (int y = 0; y < outHeight; y++)
            {
                int w0 = y * yTaps, firstRow = yStart[y] - rowMin;
                var outRow = result.Data.AsSpan(outPlane + y * outWidth, outWidth);
                outRow.Clear();
                for (int k = 0; k < yCount[y]; k++)
                {
                    float w = yWeights[w0 + k];
                    var inRow = horizontal.AsSpan((firstRow + k) * outWidth, outWidth);
                    for (int x = 0; x < outWidth; x++) outRow[x] += w * inRow[x];
                }
            }
        }
        if (filter == ResampleFilter.Bicubic) Clamp01(result.Data); // cubic overshoots; PIL clips to 8 bits
        return result;
    }

    static void Clamp01(float[] data)
    {
        for (int i = 0; i < data.Length; i++) data[i] = Math.Clamp(data[i], 0f, 1f);
    }

    static double Support(ResampleFilter filter) => filter == ResampleFilter.Bicubic ? 2.0 : 1.0;

    static double Kernel(ResampleFilter filter, double x)
    {
        x = Math.Abs(x);
        if (filter == ResampleFilter.Bilinear) return x < 1 ? 1 - x : 0;
        const double a = -0.5;
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
        return 0;
    }

    /// <summary>PIL's precompute_coeffs: per output pixel, the first input index, tap count and normalized weights.</summary>
    static (int[] Start, int[] Count, float[] Weights, int Taps) Coefficients(double boxStart, double boxSize, int inSize, int outSize, ResampleFilter filter,
                                                                             bool tapsInsideBox)
    {
        // the taps' range: the whole line, or the box alone (an integer box: exactly the cropped image's own coefficients)
        int low = tapsInsideBox ? (int)boxStart : 0, high = tapsInsideBox ? (int)(boxStart + boxSize) : inSize;
        double scale = boxSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = Support(filter) * filterScale;
        int taps = (int)Math.Ceiling(support) * 2 + 1;
        var start = new int[outSize];
        var count = new int[outSize];
        var weights = new float[outSize * taps];
        var w = new double[taps];
        for (int i = 0; i < outSize; i++)
        {
            double center = boxStart + (i + 0.5) * scale;
            int min = Math.Max(low, (int)Math.Floor(center - support + 0.5));
            int max = Math.Min(high, (int)Math.Floor(center + support + 0.5));
            if (max <= min) { min = Math.Clamp((int)center, low, high - 1); max = min + 1; }
            max = Math.Min(max, min + taps);
            double total = 0;
            for (int k = 0; k < max - min; k++)
            {
                w[k] = Kernel(filter, (k + min - center + 0.5) / filterScale);
                total += w[k];
            }
            if (total == 0) { w[0] = 1; total = 1; for (int k = 1; k < max - min; k++) w[k] = 0; }
            for (int k = 0; k < max - min; k++) weights[i * taps + k] = (float)(w[k] / total);
            start[i] = min;
            count[i] = max - min;
        }
        return (start, count, weights, taps);
    }
}
