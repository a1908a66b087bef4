using ParNet.Data;

namespace ParNet.Inference;

/// <summary>One class of a prediction: its index, its name and its probability.</summary>
public readonly record struct ClassProbability(int Class, string Name, float Probability);

/// <summary>A prediction's most probable classes, as `parnet predict` prints them and `parnet serve` answers them.</summary>
public static class TopClasses
{
    /// <summary>The <paramref name="k"/> most probable classes, most probable first (equal probabilities in class order); a
    /// class beyond <paramref name="names"/> is named "class i" (<see cref="DatasetInfo.PlaceholderClassName"/>).</summary>
    public static IReadOnlyList<ClassProbability> Of(float[] probabilities, int k, IReadOnlyList<string> names) => probabilities
        .Select((p, i) => (p, i)).OrderByDescending(t => t.p).Take(k)
        .Select(t => new ClassProbability(t.i, t.i < names.Count ? names[t.i] : DatasetInfo.PlaceholderClassName(t.i), t.p))
        .ToList();
}
