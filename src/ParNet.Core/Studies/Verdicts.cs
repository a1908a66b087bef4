namespace ParNet.Studies;

public enum Verdict { Holds, Reversed, WithinNoise, OneSeed }

/// <summary>Mean and sample standard deviation of one cell's top-1 over its seeds.</summary>
public sealed record SeedStats(double Mean, double Std, int Seeds)
{
    public static SeedStats Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("no seeds to summarise");
        double mean = values.Average();
        double std = values.Count < 2 ? double.NaN : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        return new SeedStats(mean, std, values.Count);
    }
}

/// <summary>
/// Whether "A beats B" holds at this scale, judged by the seed spread and not a single run: the difference of the means
/// against twice its standard error (sqrt(sA^2/nA + sB^2/nB), about a 95% interval under a normal model). A difference
/// inside that is "within noise"; outside it the claim holds or is reversed. One seed gives no spread, so no verdict.
/// </summary>
public static class Verdicts
{
    /// <summary>Standard errors of the difference a claim must clear.</summary>
    public const double Margin = 2.0;

    public static Verdict Judge(SeedStats better, SeedStats worse)
    {
        if (better.Seeds < 2 || worse.Seeds < 2) return Verdict.OneSeed;
        double difference = better.Mean - worse.Mean;
        double standardError = Math.Sqrt(better.Std * better.Std / better.Seeds + worse.Std * worse.Std / worse.Seeds);
        if (Math.Abs(difference) <= Margin * standardError) return Verdict.WithinNoise;
        return difference > 0 ? Verdict.Holds : Verdict.Reversed;
    }

    public static string Describe(Verdict v) => v switch
    {
        Verdict.Holds => "holds",
        Verdict.Reversed => "reversed",
        Verdict.WithinNoise => "within noise",
        _ => "one seed: no verdict",
    };
}
