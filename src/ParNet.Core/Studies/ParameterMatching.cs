using ParNet.Analysis;
using ParNet.Models;

namespace ParNet.Studies;

/// <summary>
/// Picks widths so that networks of different shapes hold the same number of parameters (Tables 8 and 10 compare at a
/// fixed budget): a family of configurations over a width scale, searched for the one closest to a target count.
/// </summary>
public static class ParameterMatching
{
    /// <summary>The paper's tolerance for "the same budget" in this project: every matched cell within 3% of the target.</summary>
    public const double Tolerance = 0.03;

    /// <summary>Trainable parameters of a configuration (the model is built and dropped: small networks take milliseconds).</summary>
    public static long Count(ModelConfig config)
    {
        using var model = ModelFactory.Create(config);
        return ModelSummary.CountTrainableParameters(model);
    }

    /// <summary>
    /// The configuration of <paramref name="family"/> (a width scale in, a configuration out; parameters grow with the
    /// scale) whose parameter count is closest to <paramref name="target"/>, by bisection over the scale in
    /// [<paramref name="low"/>, <paramref name="high"/>]. Throws when the closest is further than <see cref="Tolerance"/>.
    /// </summary>
    public static (ModelConfig Config, long Parameters) Match(Func<double, ModelConfig> family, long target, double low = 0.1, double high = 8.0)
    {
        if (target < 1) throw new ArgumentOutOfRangeException(nameof(target), target, "a parameter budget must be positive");
        (ModelConfig Config, long Parameters)? best = null;
        void Consider(ModelConfig c, long n)
        {
            if (best is null || Math.Abs(n - target) < Math.Abs(best.Value.Parameters - target)) best = (c, n);
        }
        for (int i = 0; i < 40 && high - low > 1e-4; i++)
        {
            double mid = (low + high) / 2;
            var config = family(mid);
            long n = Count(config);
            Consider(config, n);
            if (n < target) low = mid; else high = mid;
        }
        var (found, count) = best!.Value;
        double off = Math.Abs(count - target) / (double)target;
        if (off > Tolerance)
            throw new ArgumentException($"{found.Name}: no width gives {target:N0} parameters within {Tolerance:P0}; the closest has {count:N0} ({off:P1} off)");
        return (found, count);
    }

    /// <summary>Rounds a width to an even number of at least 2 (the merge blocks' grouped convolutions need even widths).</summary>
    public static int Even(double width) => Math.Max(2, 2 * (int)Math.Round(width / 2));
}
