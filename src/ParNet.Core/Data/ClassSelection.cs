namespace ParNet.Data;

/// <summary>
/// The images of some classes of a data set only, relabeled 0..k-1 in the order given: a pretraining task on classes
/// 0-4 and a fine-tuning task on 5-9 of the same data set (transfer-learning experiments).
/// </summary>
public sealed class ClassSelection : IImageDataset
{
    readonly IImageDataset _inner;
    readonly int[] _indices;
    readonly int[] _labels;

    public ClassSelection(IImageDataset inner, IReadOnlyList<int> classes)
    {
        if (classes.Count == 0) throw new ArgumentException("select at least one class");
        if (classes.Distinct().Count() != classes.Count) throw new ArgumentException($"classes listed twice: {string.Join(",", classes)}");
        foreach (int c in classes)
            if (c < 0 || c >= inner.ClassNames.Count)
                throw new ArgumentException($"class {c} does not exist (classes 0..{inner.ClassNames.Count - 1})");
        _inner = inner;
        var newLabel = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
        var indices = new List<int>();
        var labels = new List<int>();
        for (int i = 0; i < inner.Count; i++)
            if (newLabel.TryGetValue(inner.LabelOf(i), out int label)) { indices.Add(i); labels.Add(label); }
        // an empty selection reached the trainer's own check, outside the refusals users get in one line (a data audit of session 47)
        if (indices.Count == 0)
            throw new InvalidDataException($"none of the classes selected ({string.Join(",", classes)}: {string.Join(", ", classes.Select(c => inner.ClassNames[c]))}) " +
                                           "has an image in this data");
        _indices = indices.ToArray();
        _labels = labels.ToArray();
        ClassNames = classes.Select(c => inner.ClassNames[c]).ToArray();
    }

    public int Count => _indices.Length;
    public int Channels => _inner.Channels;
    public (int Height, int Width)? FixedSize => _inner.FixedSize;
    public IReadOnlyList<string> ClassNames { get; }
    public int LabelOf(int index) => _labels[index];
    public ImageF Load(int index, int minShortSide = 0) => _inner.Load(_indices[index], minShortSide);

    public string NameOf(int index) => _inner.NameOf(_indices[index]);

    /// <summary>More class ids than any data set read here has (ImageNet-21k: 21,843); a range past it is a typo, and
    /// expanding it (1-2147483647) would exhaust the memory before any data set could refuse its ids.</summary>
    public const int MaxClassId = 99_999;

    /// <summary>"0-4", "5,7,9" or "0-2,8": class ids in the order they become labels 0..k-1.</summary>
    public static int[] Parse(string text)
    {
        var result = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var range = part.Split('-', 2);
            if (!int.TryParse(range[0], out int from) || (range.Length == 2 && !int.TryParse(range[1], out _)))
                throw new ArgumentException($"'{part}' is not a class id or a range like 0-4");
            int to = range.Length == 2 ? int.Parse(range[1]) : from;
            if (to < from) throw new ArgumentException($"'{part}': the range runs backwards");
            if (to > MaxClassId) throw new ArgumentException($"'{part}': class {to} does not exist (no data set read here has more than {MaxClassId + 1} classes)");
            result.AddRange(Enumerable.Range(from, to - from + 1));
        }
        if (result.Count == 0) throw new ArgumentException("no class ids given");
        return result.ToArray();
    }
}
