using ParNet.Data;
using ParNet.Models;
using ParNet.Training;

namespace ParNet.Cli;

/// <summary>Builds the training and evaluation loaders of `parnet train` / `parnet eval` for each data set.</summary>
public static class TrainData
{
    public static readonly string[] Datasets = ["fashion-mnist", "cifar10", "cifar100", "folder"];

    /// <summary>The side the network sees for Fashion-MNIST's 28 px images: 28 rounded up to the model's input multiple.</summary>
    public static int FashionSide(ModelConfig model)
    {
        int m = model.InputSizeMultiple;
        return (28 + m - 1) / m * m;
    }

    public static int NumClasses(string dataset, string? data) => dataset switch
    {
        "fashion-mnist" or "cifar10" => 10,
        "cifar100" => 100,
        "folder" => new ImageFolderDataset(Path.Combine(Required(data, dataset), "train")).ClassNames.Count,
        _ => throw Unknown(dataset),
    };

    static string Required(string? data, string dataset) => data ?? throw new UsageException($"--data DIR is required for --dataset {dataset}");

    static UsageException Unknown(string dataset) => new($"unknown --dataset '{dataset}'; known: {string.Join(", ", Datasets)}");

    public static IBatchSource Train(string dataset, string? data, ModelConfig model, Recipe r, LoaderOptions options)
    {
        switch (dataset)
        {
            case "fashion-mnist":
            {
                var ds = IdxReader.LoadSplit(DataLocations.ResolveFashionMnist(data), train: true, DatasetInfo.FashionMnist.ClassNames);
                int side = FashionSide(model);
                var steps = new List<IImageTransform> { new RandomCrop(side, (side - 28) / 2 + r.CropPadding) };
                if (r.Flip) steps.Add(new HorizontalFlip());
                steps.AddRange(Normalize(DatasetInfo.FashionMnist, model.InChannels));
                if (r.RandomErasing > 0) steps.Add(new RandomErasing(r.RandomErasing));
                return new DataLoader(ds, new Compose(steps.ToArray()), options);
            }
            case "cifar10" or "cifar100":
            {
                var (ds, info) = Cifar(dataset, Required(data, dataset), train: true);
                var steps = new List<IImageTransform> { new RandomCrop(32, r.CropPadding) };
                if (r.Flip) steps.Add(new HorizontalFlip());
                steps.AddRange(Normalize(info, model.InChannels));
                if (r.RandomErasing > 0) steps.Add(new RandomErasing(r.RandomErasing));
                return new DataLoader(ds, new Compose(steps.ToArray()), options);
            }
            case "folder":
                return DataSources.ImageFolderTrain(Path.Combine(Required(data, dataset), "train"), r.ImageSize, options,
                    r.RandAugment, r.ColorJitter, r.RandomErasing);
            default: throw Unknown(dataset);
        }
    }

    /// <summary>
    /// The evaluation split (test for fashion-mnist/cifar, val/ for folders, or "train" without augmentation).
    /// <paramref name="size"/>: network input side (null: the training side); Fashion-MNIST content is resized
    /// by size/side and padded like in training. <paramref name="tenCrop"/>: the four corners, centre and
    /// their mirrors, from an image padded by the crop padding (folders: resized to size/0.875).
    /// </summary>
    public static DataLoader Eval(string dataset, string? data, ModelConfig model, Recipe r, LoaderOptions options,
                                  string split = "test", int? size = null, bool tenCrop = false)
    {
        options = options with { Shuffle = false, DropLast = false };
        bool train = split == "train";
        if (split is not ("test" or "train" or "val")) throw new UsageException($"--split must be test or train; got '{split}'");
        switch (dataset)
        {
            case "fashion-mnist":
            {
                var ds = IdxReader.LoadSplit(DataLocations.ResolveFashionMnist(data), train, DatasetInfo.FashionMnist.ClassNames);
                int side = FashionSide(model), n = size ?? side;
                CheckSize(model, n);
                int content = (int)Math.Round(28.0 * n / side);
                var steps = new List<IImageTransform>();
                if (content != 28) steps.Add(new ResizeShortSide(content, ResampleFilter.Bicubic));
                int padded = tenCrop ? n + 2 * Math.Max(1, r.CropPadding) : n;
                steps.Add(new RandomCrop(padded, (padded - content) / 2));   // centred pad: (padded - content) is even here
                steps.AddRange(Normalize(DatasetInfo.FashionMnist, model.InChannels));
                return new DataLoader(ds, new Compose(steps.ToArray()), tenCrop ? options with { TenCrop = new TenCrop(n) } : options);
            }
            case "cifar10" or "cifar100":
            {
                var (ds, info) = Cifar(dataset, Required(data, dataset), train);
                int n = size ?? 32;
                CheckSize(model, n);
                var steps = new List<IImageTransform>();
                if (n != 32) steps.Add(new ResizeShortSide(n, ResampleFilter.Bicubic));
                if (tenCrop) steps.Add(new RandomCrop(n + 2 * Math.Max(1, r.CropPadding), Math.Max(1, r.CropPadding)));
                steps.AddRange(Normalize(info, model.InChannels));
                return new DataLoader(ds, new Compose(steps.ToArray()), tenCrop ? options with { TenCrop = new TenCrop(n) } : options);
            }
            case "folder":
            {
                int n = size ?? r.ImageSize;
                CheckSize(model, n);
                return DataSources.ImageFolderEval(Path.Combine(Required(data, dataset), train ? "train" : "val"), n, options, tenCrop);
            }
            default: throw Unknown(dataset);
        }
    }

    static void CheckSize(ModelConfig model, int n)
    {
        try { model.CheckImageSize(n, n); }
        catch (ArgumentException e) { throw new UsageException($"--size {n}: {e.Message}"); }
    }

    static (InMemoryImageDataset, DatasetInfo) Cifar(string dataset, string dir, bool train) => dataset == "cifar10"
        ? (CifarReader.LoadCifar10(dir, train), DatasetInfo.Cifar10)
        : (CifarReader.LoadCifar100(dir, train), DatasetInfo.Cifar100);

    static IEnumerable<IImageTransform> Normalize(DatasetInfo info, int channels)
    {
        var mean = info.Mean; var std = info.Std;
        if (channels != mean.Length)
        {
            if (!(channels == 3 && mean.Length == 1) && !(channels == 1 && mean.Length == 3))
                throw new UsageException($"{info.Name} has {mean.Length} channel(s); the model takes {channels}");
            yield return new ToChannels(channels);
            mean = Enumerable.Repeat(mean.Average(), channels).ToArray();
            std = Enumerable.Repeat(std.Average(), channels).ToArray();
        }
        yield return new Normalize(mean, std);
    }
}
