namespace ParNet.Export.Quantization;

/// <summary>The observed range of one activation tensor over the calibration images.</summary>
public readonly record struct ActivationRange(float Min, float Max)
{
    public static ActivationRange Empty => new(float.PositiveInfinity, float.NegativeInfinity);

    public ActivationRange Include(ReadOnlySpan<float> values)
    {
        float min = Min, max = Max;
        foreach (float v in values)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return new(min, max);
    }

    public ActivationRange Include(ActivationRange other) => new(Math.Min(Min, other.Min), Math.Max(Max, other.Max));
}

/// <summary>Scale and zero point of a uint8 activation: real = (q - ZeroPoint) * Scale.</summary>
public readonly record struct ActivationQuantization(float Scale, byte ZeroPoint);

/// <summary>
/// The arithmetic of ONNX's QuantizeLinear/DequantizeLinear as the int8 export uses it, in small pure functions:
/// activations uint8 asymmetric (the range widened to contain 0, so that zero padding is exact), weights int8
/// symmetric per output channel in [-127, 127] (zero point 0, the form ONNX Runtime's int8 convolutions take), biases
/// int32 at scale input_scale x weight_scale[c] (the accumulator's own scale, so the bias adds without rescaling).
/// Rounding is to nearest, ties to even, as QuantizeLinear specifies.
/// </summary>
public static class QuantizationMath
{
    /// <summary>127, not 128: a symmetric range keeps -w and w equally exact and the zero point at 0.</summary>
    public const int WeightMax = 127;

    /// <summary>
    /// uint8 scale and zero point for values in [min, max] (min/max calibration): scale = (max - min) / 255 with the
    /// range first widened to contain 0; zero point = round(-min / scale). A range of only zero gets scale 1.
    /// </summary>
    public static ActivationQuantization ForActivation(ActivationRange range)
    {
        if (float.IsNaN(range.Min) || float.IsNaN(range.Max) || range.Min > range.Max || float.IsInfinity(range.Min) || float.IsInfinity(range.Max))
            throw new ArgumentException($"activation range [{range.Min}, {range.Max}] is not a calibrated range");
        double min = Math.Min(range.Min, 0), max = Math.Max(range.Max, 0);
        if (max - min == 0) return new(1f, 0);
        float scale = (float)((max - min) / 255.0);
        double zero = Math.Round(-min / scale, MidpointRounding.ToEven);
        return new(scale, (byte)Math.Clamp(zero, 0, 255));
    }

    public static byte Quantize(float value, ActivationQuantization q) =>
        (byte)Math.Clamp(Math.Round(value / q.Scale, MidpointRounding.ToEven) + q.ZeroPoint, 0, 255);

    public static float Dequantize(byte value, ActivationQuantization q) => (value - q.ZeroPoint) * q.Scale;

    /// <summary>
    /// Per-output-channel symmetric int8 quantization of a weight laid out [channels, ...] (conv OIHW, Gemm [out, in]
    /// with transB): scale[c] = max|w[c]| / 127, q = round(w / scale[c]). An all-zero channel gets scale 1 (all q 0).
    /// </summary>
    public static (sbyte[] Values, float[] Scales) QuantizeWeightsPerChannel(ReadOnlySpan<float> weights, int channels)
    {
        if (channels < 1 || weights.Length % channels != 0)
            throw new ArgumentException($"{weights.Length} weights do not split into {channels} channels");
        int perChannel = weights.Length / channels;
        var values = new sbyte[weights.Length];
        var scales = new float[channels];
        for (int c = 0; c < channels; c++)
        {
            var w = weights.Slice(c * perChannel, perChannel);
            float maxAbs = 0;
            foreach (float v in w) maxAbs = Math.Max(maxAbs, Math.Abs(v));
            float scale = maxAbs == 0 ? 1f : maxAbs / WeightMax;
            scales[c] = scale;
            for (int i = 0; i < perChannel; i++)
                values[c * perChannel + i] = (sbyte)Math.Clamp(Math.Round(w[i] / scale, MidpointRounding.ToEven), -WeightMax, WeightMax);
        }
        return (values, scales);
    }

    /// <summary>
    /// Biases in int32 at scale inputScale x weightScales[c], zero point 0, as QLinearConv adds them to its int32
    /// accumulator. Saturates at the int32 range (reached only by a bias ~2^31 quantization steps large).
    /// </summary>
    public static (int[] Values, float[] Scales) QuantizeBias(ReadOnlySpan<float> bias, float inputScale, ReadOnlySpan<float> weightScales)
    {
        if (bias.Length != weightScales.Length)
            throw new ArgumentException($"{bias.Length} biases for {weightScales.Length} weight channels");
        var values = new int[bias.Length];
        var scales = new float[bias.Length];
        for (int c = 0; c < bias.Length; c++)
        {
            scales[c] = inputScale * weightScales[c];
            values[c] = (int)Math.Clamp(Math.Round(bias[c] / (double)scales[c], MidpointRounding.ToEven), int.MinValue, int.MaxValue);
        }
        return (values, scales);
    }
}
