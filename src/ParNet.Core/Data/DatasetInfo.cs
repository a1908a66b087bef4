namespace ParNet.Data;

/// <summary>What a data set is: class names and the per-channel mean/std used to normalize it ([0, 1] units).</summary>
public sealed record DatasetInfo(string Name, IReadOnlyList<string> ClassNames, float[] Mean, float[] Std)
{
    /// <summary>Mean/std of the 60k training images (recomputed from the files by a test).</summary>
    public static DatasetInfo FashionMnist { get; } = new("fashion-mnist",
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
        [0.2860f], [0.3530f]);

    public static DatasetInfo Mnist { get; } = new("mnist",
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], [0.1307f], [0.3081f]);

    /// <summary>CIFAR-10 training-set statistics (as published with the data set's common recipes).</summary>
    public static DatasetInfo Cifar10 { get; } = new("cifar-10",
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        [0.4914f, 0.4822f, 0.4465f], [0.2470f, 0.2435f, 0.2616f]);

    /// <summary>CIFAR-100 statistics; class names come from fine_label_names.txt when present.</summary>
    public static DatasetInfo Cifar100 { get; } = new("cifar-100",
        PlaceholderClassNames(100),
        [0.5071f, 0.4865f, 0.4409f], [0.2673f, 0.2564f, 0.2762f]);

    /// <summary>ImageNet statistics, used by torchvision and timm for any natural-image folder.</summary>
    public static float[] ImageNetMean { get; } = [0.485f, 0.456f, 0.406f];
    public static float[] ImageNetStd { get; } = [0.229f, 0.224f, 0.225f];

    /// <summary>ImageNet-1k: the 1000 class names in the synset order the released checkpoints use (shipped with the library).</summary>
    public static DatasetInfo ImageNet { get; } = new("imagenet", ReadImageNetClassNames(), ImageNetMean, ImageNetStd);

    static string[] ReadImageNetClassNames()
    {
        using var stream = typeof(DatasetInfo).Assembly.GetManifestResourceStream("ParNet.Data.imagenet-classes.txt")
            ?? throw new InvalidOperationException("the ImageNet class names are not embedded in the library");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
    }

    /// <summary>The names of classes nobody named: "class 0", "class 1", ... (a model without a data set, CIFAR-100 without its
    /// label file).</summary>
    public static string[] PlaceholderClassNames(int count) => Enumerable.Range(0, count).Select(PlaceholderClassName).ToArray();

    /// <summary>"class <paramref name="index"/>": the name of a class nobody named.</summary>
    public static string PlaceholderClassName(int index) => $"class {index}";

    /// <summary>Whether <paramref name="names"/> are the <see cref="PlaceholderClassNames"/>: export, fuse and convert store
    /// them for weights that had no names, and they say nothing of a data set's classes.</summary>
    public static bool ArePlaceholders(IReadOnlyList<string> names) =>
        names.SequenceEqual(PlaceholderClassNames(names.Count), StringComparer.Ordinal);
}
