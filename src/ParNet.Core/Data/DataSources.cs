namespace ParNet.Data;

/// <summary>Ready-made loaders with the recipes of the paper and its released scripts.</summary>
public static class DataSources
{
    /// <summary>
    /// Fashion-MNIST training: random crop (padding 4 px, the CIFAR "shift" recipe scaled to 28 px) + flip,
    /// optional channel replication (3 for ImageNet-layout models), normalize, optional random erasing
    /// (probability 0: the Fashion-MNIST README's best results use it, but it is off unless asked).
    /// </summary>
    public static DataLoader FashionMnistTrain(string? dataArgument, LoaderOptions? options = null, int padding = 4,
                                               int channels = 1, double erasingProbability = 0)
    {
        var dataset = IdxReader.LoadSplit(DataLocations.ResolveFashionMnist(dataArgument), train: true, DatasetInfo.FashionMnist.ClassNames);
        var steps = new List<IImageTransform> { new RandomCrop(28, padding), new HorizontalFlip() };
        steps.AddRange(NormalizeSteps(DatasetInfo.FashionMnist, channels));
        if (erasingProbability > 0) steps.Add(new RandomErasing(erasingProbability));
        return new DataLoader(dataset, new Compose(steps.ToArray()), options ?? new LoaderOptions());
    }

    /// <summary>Fashion-MNIST test split: no augmentation, file order, every image.</summary>
    public static DataLoader FashionMnistTest(string? dataArgument, LoaderOptions? options = null, int channels = 1)
    {
        var dataset = IdxReader.LoadSplit(DataLocations.ResolveFashionMnist(dataArgument), train: false, DatasetInfo.FashionMnist.ClassNames);
        return new DataLoader(dataset, new Compose(NormalizeSteps(DatasetInfo.FashionMnist, channels).ToArray()), EvaluationOptions(options));
    }

    /// <summary>CIFAR training: mirror + shift (pad 4, crop 32), normalize (paper section 3.3).</summary>
    public static DataLoader CifarTrain(InMemoryImageDataset dataset, DatasetInfo info, LoaderOptions? options = null)
        => new(dataset, new Compose([new RandomCrop(32, 4), new HorizontalFlip(), .. NormalizeSteps(info, 3)]), options ?? new LoaderOptions());

    public static DataLoader CifarTest(InMemoryImageDataset dataset, DatasetInfo info, LoaderOptions? options = null)
        => new(dataset, new Compose(NormalizeSteps(info, 3).ToArray()), EvaluationOptions(options));

    /// <summary>
    /// ImageNet-style training (the released ParNet scripts): random-resized-crop, flip, optional colour
    /// jitter, RandAugment m9 mstd0.5, normalize, random erasing. Decoding may halve the resolution until the
    /// short side nears <paramref name="size"/>: the crop is resampled to that size anyway.
    /// </summary>
    public static DataLoader ImageFolderTrain(string root, int size = 224, LoaderOptions? options = null,
                                              bool randAugment = true, float colorJitter = 0f, double erasingProbability = 0.25)
    {
        var steps = new List<IImageTransform> { new RandomResizedCrop(size), new HorizontalFlip() };
        if (colorJitter > 0) steps.Add(new ColorJitter(colorJitter, colorJitter, colorJitter));
        if (randAugment) steps.Add(new RandAugment());
        steps.Add(new Normalize(DatasetInfo.ImageNetMean, DatasetInfo.ImageNetStd));
        if (erasingProbability > 0) steps.Add(new RandomErasing(erasingProbability));
        var opts = (options ?? new LoaderOptions()) with { DecodeMinShortSide = size };
        return new DataLoader(new ImageFolderDataset(root), new Compose(steps.ToArray()), opts);
    }

    /// <summary>ImageNet-style evaluation: resize to size/0.875 bicubic, centre crop (or ten-crop), normalize.</summary>
    public static DataLoader ImageFolderEval(string root, int size = 224, LoaderOptions? options = null, bool tenCrop = false)
    {
        var resize = new ResizeCenterCrop(size);
        var normalize = new Normalize(DatasetInfo.ImageNetMean, DatasetInfo.ImageNetStd);
        var opts = EvaluationOptions(options) with { DecodeMinShortSide = resize.ResizeTo };
        if (tenCrop)
            return new DataLoader(new ImageFolderDataset(root),
                new Compose(new ResizeShortSide(resize.ResizeTo), normalize), opts with { TenCrop = new TenCrop(size) });
        return new DataLoader(new ImageFolderDataset(root), new Compose(resize, normalize), opts);
    }

    static LoaderOptions EvaluationOptions(LoaderOptions? options)
        => (options ?? new LoaderOptions()) with { Shuffle = false, DropLast = false };

    static IEnumerable<IImageTransform> NormalizeSteps(DatasetInfo info, int channels)
    {
        if (channels == info.Mean.Length) return [new Normalize(info.Mean, info.Std)];
        if (channels == 3 && info.Mean.Length == 1) // replicate grey, same statistics in every channel
            return [new ToChannels(3), new Normalize([info.Mean[0], info.Mean[0], info.Mean[0]], [info.Std[0], info.Std[0], info.Std[0]])];
        throw new ArgumentException($"{info.Name} has {info.Mean.Length} channel(s); cannot feed a {channels}-channel model");
    }
}
