namespace ParNet.Studies;

public enum Verdict { Holds, Reversed, WithinNoise, TooFewSeeds, NoSpread }

/// <summary>Mean and sample standard deviation of one cell's top-1 over its seeds.</summary>
public sealed record SeedStats(double Mean, double Std, int Seeds)
{
    public static SeedStats Of(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("no seeds to summarise");
        double mean = values.Average();
        double std = values.Count < 2 ? double.NaN : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        return new SeedStats(mean, std, values.Count);
    }
}

/// <summary>
/// "A beats B" judged on the per-seed differences A_k - B_k over the seeds both cells ran: seed k gives every cell of a study
/// the same training subset and order (an ensemble's members: the same subset, their own order and initialization), so the pairs share that part of the noise. <see cref="HalfWidth"/>: the half width of
/// the difference's two-sided 95% interval, Student's t at <see cref="Pairs"/> - 1 degrees of freedom times the standard
/// error of the mean difference (NaN with fewer than 2 pairs).
/// </summary>
public sealed record PairedComparison(double MeanDifference, double HalfWidth, int Pairs, Verdict Verdict);

/// <summary>
/// Whether a claim holds at this scale, judged by a paired t test over seeds and not a single run. Until session 41 it was the
/// unpaired difference of the means against 2 standard errors: "about 95%" only for many seeds (about 88% at 3 seeds, 82% at
/// 2, with equal spreads), blind to the pairing, and any difference "held" where both cells happened to have no spread.
/// </summary>
public static class Verdicts
{
    /// <summary>Pairs a verdict needs: with 2 the t interval's half width is 12.7 standard errors (one degree of freedom), and a
    /// single difference says nothing of the spread.</summary>
    public const int MinimumSeeds = 3;

    /// <summary>Below this, the per-seed differences count as equal: top-1 moves in steps of one test image (1e-4 on 10,000),
    /// and equal differences computed in floating point differ by about 1e-16.</summary>
    const double NoSpreadTolerance = 1e-9;

    /// <summary>Two-sided 95% critical values of Student's t for 1 to 30 degrees of freedom (any statistics table, e.g. the
    /// NIST/SEMATECH e-Handbook's 1.4.7.2).</summary>
    static readonly double[] T975 =
    [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];

    /// <summary>Student's t at 0.975 for <paramref name="degreesOfFreedom"/>: the table to 30, then the Cornish-Fisher
    /// expansion around the normal's 1.959964 (within 1e-4 of the exact value from 31 on).</summary>
    public static double TCritical(int degreesOfFreedom)
    {
        if (degreesOfFreedom < 1) throw new ArgumentOutOfRangeException(nameof(degreesOfFreedom), degreesOfFreedom, "at least 1");
        if (degreesOfFreedom <= T975.Length) return T975[degreesOfFreedom - 1];
        const double z = 1.959964;
        double n = degreesOfFreedom, z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
        return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n) + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n);
    }

    /// <summary>Judges "<paramref name="better"/> beats <paramref name="worse"/>" from each cell's top-1 by seed (the seeds only
    /// one of them ran are left out).</summary>
    public static PairedComparison Judge(IReadOnlyDictionary<int, double> better, IReadOnlyDictionary<int, double> worse)
    {
        var differences = better.Keys.Where(worse.ContainsKey).Order().Select(k => better[k] - worse[k]).ToList();
        int n = differences.Count;
        double mean = n == 0 ? double.NaN : differences.Average();
        if (n < 2) return new(mean, double.NaN, n, Verdict.TooFewSeeds);
        var spread = SeedStats.Of(differences);
        double halfWidth = TCritical(n - 1) * spread.Std / Math.Sqrt(n);
        if (n < MinimumSeeds) return new(mean, halfWidth, n, Verdict.TooFewSeeds);
        if (spread.Std < NoSpreadTolerance)
            // every seed moved both cells alike: the seeds vary nothing here, so they say nothing of the noise
            return new(mean, halfWidth, n, Math.Abs(mean) < NoSpreadTolerance ? Verdict.WithinNoise : Verdict.NoSpread);
        if (Math.Abs(mean) <= halfWidth) return new(mean, halfWidth, n, Verdict.WithinNoise);
        return new(mean, halfWidth, n, mean > 0 ? Verdict.Holds : Verdict.Reversed);
    }

    public static string Describe(Verdict v) => v switch
    {
        Verdict.Holds => "holds",
        Verdict.Reversed => "reversed",
        Verdict.WithinNoise => "within noise",
        Verdict.NoSpread => "no spread over seeds: no verdict",
        _ => $"fewer than {MinimumSeeds} seeds: no verdict",
    };

    /// <summary>How the verdicts are reached, for a report's reader.</summary>
    public static string Rule =>
        $"Verdicts: a paired t test on the per-seed differences (seed k gives the cells the same training subset and order; an " +
        $"ensemble's members the same subset in orders and initializations of their own): a " +
        $"claim holds where the 95% interval of the mean difference (Student's t at seeds - 1 degrees of freedom) lies above 0, " +
        $"is reversed where it lies below 0, and is within noise where it holds 0; no verdict below {MinimumSeeds} seeds, nor " +
        "where every seed gave the same nonzero difference (the seeds then say nothing of the noise).";
}
