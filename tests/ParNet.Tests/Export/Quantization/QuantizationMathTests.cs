using ParNet.Export.Quantization;

namespace ParNet.Tests.Export.Quantization;

public class QuantizationMathTests
{
    [Fact]
    public void Activation_scale_and_zero_point_of_a_range_across_zero()
    {
        var q = QuantizationMath.ForActivation(new ActivationRange(-1f, 3f));
        Assert.Equal(4f / 255f, q.Scale, 1e-7f);
        Assert.Equal(64, q.ZeroPoint);   // round(1 / (4/255)) = round(63.75)
        Assert.Equal(0f, QuantizationMath.Dequantize(QuantizationMath.Quantize(0f, q), q));
        Assert.Equal(0, QuantizationMath.Quantize(-1f, q));
        Assert.Equal(255, QuantizationMath.Quantize(3f, q));
        Assert.Equal(255, QuantizationMath.Quantize(100f, q));   // saturates
    }

    [Fact]
    public void A_positive_range_is_widened_to_contain_zero_exactly()
    {
        var q = QuantizationMath.ForActivation(new ActivationRange(2f, 5f));
        Assert.Equal(5f / 255f, q.Scale, 1e-7f);
        Assert.Equal(0, q.ZeroPoint);
        Assert.Equal(0f, QuantizationMath.Dequantize(QuantizationMath.Quantize(0f, q), q));
    }

    [Fact]
    public void Activation_round_trip_error_is_at_most_half_a_step_inside_the_range()
    {
        var range = new ActivationRange(-0.7f, 2.9f);
        var q = QuantizationMath.ForActivation(range);
        var random = new Random(3);
        for (int i = 0; i < 1000; i++)
        {
            float v = range.Min + (float)random.NextDouble() * (range.Max - range.Min);
            float back = QuantizationMath.Dequantize(QuantizationMath.Quantize(v, q), q);
            Assert.True(Math.Abs(back - v) <= q.Scale / 2 + 1e-6f, $"{v} -> {back}, step {q.Scale}");
        }
    }

    [Fact]
    public void A_zero_range_gets_a_usable_scale_and_an_uncalibrated_one_is_refused()
    {
        Assert.Equal(new ActivationQuantization(1f, 0), QuantizationMath.ForActivation(new ActivationRange(0f, 0f)));
        Assert.Throws<ArgumentException>(() => QuantizationMath.ForActivation(ActivationRange.Empty));
        Assert.Throws<ArgumentException>(() => QuantizationMath.ForActivation(new ActivationRange(float.NaN, 1f)));
    }

    [Fact]
    public void Range_tracks_the_smallest_and_largest_value()
    {
        var r = ActivationRange.Empty.Include([0.5f, -2f, 3f]).Include([1f]).Include(new ActivationRange(-1f, 4f));
        Assert.Equal(new ActivationRange(-2f, 4f), r);
    }

    [Fact]
    public void Per_channel_weights_round_trip_within_half_a_step_of_their_own_channel()
    {
        var random = new Random(7);
        int channels = 4, perChannel = 27;
        var w = new float[channels * perChannel];
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < perChannel; i++)
                w[c * perChannel + i] = (float)(random.NextDouble() * 2 - 1) * MathF.Pow(10, -c);   // magnitudes 1 .. 0.001
        var (q, scales) = QuantizationMath.QuantizeWeightsPerChannel(w, channels);
        for (int c = 0; c < channels; c++)
        {
            float maxAbs = w.Skip(c * perChannel).Take(perChannel).Max(Math.Abs);
            Assert.Equal(maxAbs / 127f, scales[c], maxAbs * 1e-6f);
            Assert.Contains(q.Skip(c * perChannel).Take(perChannel), v => Math.Abs(v) == 127);   // the largest weight uses the full range
            for (int i = 0; i < perChannel; i++)
            {
                int k = c * perChannel + i;
                Assert.True(Math.Abs(q[k] * scales[c] - w[k]) <= scales[c] / 2 * 1.0001f, $"channel {c}: {w[k]} -> {q[k] * scales[c]}");
            }
        }
        Assert.All(q, v => Assert.InRange(v, (sbyte)-127, (sbyte)127));
    }

    [Fact]
    public void An_all_zero_channel_quantizes_to_zeros_with_scale_one()
    {
        var (q, scales) = QuantizationMath.QuantizeWeightsPerChannel([0f, 0f, 0.5f, -1f], 2);
        Assert.Equal([1f, 1f / 127f], scales);
        Assert.Equal(new sbyte[] { 0, 0, 64, -127 }, q);   // 0.5 * 127 = 63.5 rounds to even: 64
        Assert.Throws<ArgumentException>(() => QuantizationMath.QuantizeWeightsPerChannel([1f, 2f, 3f], 2));
    }

    [Fact]
    public void Bias_is_int32_at_the_accumulator_scale()
    {
        var (values, scales) = QuantizationMath.QuantizeBias([0.5f, -0.25f], 0.01f, [0.1f, 0.05f]);
        Assert.Equal(0.001f, scales[0], 1e-9f);
        Assert.Equal(0.0005f, scales[1], 1e-9f);
        Assert.Equal([500, -500], values);
        Assert.Throws<ArgumentException>(() => QuantizationMath.QuantizeBias([1f], 0.1f, [0.1f, 0.2f]));
    }
}
