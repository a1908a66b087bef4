namespace ParNet.Data;

/// <summary>
/// A small deterministic generator (xoshiro256**, seeded through SplitMix64). One instance per sample,
/// derived from (seed, epoch, index), so results never depend on which thread did the work.
/// Not thread-safe: never share an instance between threads.
/// </summary>
public sealed class SampleRandom
{
    ulong _s0, _s1, _s2, _s3;

    public SampleRandom(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    /// <summary>The generator of one sample of one epoch (index -1 and below are free for other streams).</summary>
    public static SampleRandom For(long seed, long epoch, long index)
    {
        ulong h = (ulong)seed;
        h = Mix(h ^ 0x9E3779B97F4A7C15UL * (ulong)(epoch + 1));
        h = Mix(h ^ 0xC2B2AE3D27D4EB4FUL * (ulong)(index + 3));
        return new SampleRandom(h);
    }

    static ulong SplitMix(ref ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        return Mix(x);
    }

    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [low, high).</summary>
    public double Uniform(double low, double high) => low + (high - low) * NextDouble();

    /// <summary>Uniform integer in [0, count).</summary>
    public int NextInt(int count)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count));
        return (int)((NextUInt64() >> 32) * (ulong)count >> 32);
    }

    /// <summary>Uniform integer in [low, high] (both ends included, like Python's random.randint).</summary>
    public int NextIntInclusive(int low, int high) => low + NextInt(high - low + 1);

    public bool Chance(double probability) => NextDouble() < probability;

    /// <summary>Standard normal (Box-Muller).</summary>
    public double NextGaussian()
    {
        double u1 = 1.0 - NextDouble();
        double u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Fisher-Yates shuffle in place.</summary>
    public void Shuffle<T>(T[] items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
