using ParNet.Data;

namespace ParNet.Inference;

/// <summary>One class of a prediction: its index, its name and its probability.</summary>
public readonly record struct ClassProbability(int Class, string Name, float Probability);

/// <summary>A prediction's most probable classes, as `parnet predict` prints them and `parnet serve` answers them.</summary>
public static class TopClasses
{
    /// <summary>The <paramref name="k"/> most probable classes, most probable first (equal probabilities in class order); a
    /// class beyond <paramref name="names"/> is named "class i" (<see cref="DatasetInfo.PlaceholderClassName"/>). An output
    /// that is not finite has no ranking and no JSON carries it: <see cref="InvalidDataException"/> (<see cref="NotFinite"/>).</summary>
    public static IReadOnlyList<ClassProbability> Of(float[] probabilities, int k, IReadOnlyList<string> names)
    {
        if (!probabilities.All(float.IsFinite)) throw new InvalidDataException(NotFinite);
        return probabilities.Select((p, i) => (p, i)).OrderByDescending(t => t.p).Take(k)
            .Select(t => new ClassProbability(t.i, t.i < names.Count ? names[t.i] : DatasetInfo.PlaceholderClassName(t.i), t.p))
            .ToList();
    }

    /// <summary>The refusal of an output with NaN or infinity in it: NaN printed as a probability with exit 0 and broke
    /// predict's --json and serve's answers after their status (an audit of serve and predict, session 45).</summary>
    public const string NotFinite = "the model's output for this image is not finite (NaN or infinity): its weights hold such values, or overflow";
}
