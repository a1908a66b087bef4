using System.Globalization;
using System.Text.RegularExpressions;

namespace ParNet.Tests.Serving;

/// <summary>
/// A strict reader of the Prometheus text exposition format (version 0.0.4): every line is a comment (# HELP, # TYPE)
/// or a sample `name{label="value",...} number`; anything else fails the test. Samples keyed by name and labels.
/// </summary>
static partial class PrometheusText
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"\G,?([a-zA-Z_][a-zA-Z0-9_]*)=""((?:[^""\\]|\\.)*)""")]
    private static partial Regex Label();

    [GeneratedRegex(@"^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))$")]
    private static partial Regex Comment();

    public static List<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0) continue;
            if (line.StartsWith('#'))
            {
                Assert.True(Comment().IsMatch(line), $"not a HELP/TYPE line: {line}");
                continue;
            }
            var m = SampleLine().Match(line);
            Assert.True(m.Success, $"not a sample line: {line}");
            var labels = new Dictionary<string, string>();
            string labelText = m.Groups[2].Value;
            int at = 0;
            while (at < labelText.Length)
            {
                var l = Label().Match(labelText, at);
                Assert.True(l.Success, $"bad labels in: {line}");
                labels[l.Groups[1].Value] = l.Groups[2].Value;
                at += l.Length;
            }
            string value = m.Groups[3].Value;
            double v = value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            samples.Add(new Sample(m.Groups[1].Value, labels, v));
        }
        return samples;
    }

    /// <summary>The sum over samples of <paramref name="name"/> whose labels include every given pair.</summary>
    public static double Sum(IEnumerable<Sample> samples, string name, params (string Key, string Value)[] labels) => samples
        .Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value))
        .Sum(s => s.Value);
}
