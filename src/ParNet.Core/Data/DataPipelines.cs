using ParNet.Models;
using ParNet.Runtime;

namespace ParNet.Data;

/// <summary>
/// The training and evaluation loaders of each data set, as `parnet train` / `parnet eval` use them and a library
/// user can: Fashion-MNIST (IDX files), CIFAR-10/100 (binary batches) and image folders (DIR/train, DIR/val).
/// Bad input gives ArgumentException (unknown data set or split, missing data directory, a size or channel count
/// the model cannot take), DirectoryNotFoundException / FileNotFoundException (data not where it was looked for).
/// </summary>
public static class DataPipelines
{
    /// <summary>The data sets by name; imagenet (the imagenet recipes' default) is a folder in ImageNet's layout.</summary>
    public static IReadOnlyList<string> Datasets { get; } = ["fashion-mnist", "cifar10", "cifar100", "folder", "imagenet"];

    /// <summary>The name of <see cref="Datasets"/> (or mnist, a deployment's data set) another spelling means, in any letter case
    /// ("Fashion-MNIST", "fashion_mnist", "CIFAR-10", "imagenet-1k"); any other name as given (refused where it is read). The
    /// one table of spellings: <see cref="Export.DeploymentInfo.KnownDataset"/> (predict, serve, export) reads by it, and train
    /// and eval, which refused these, now do too (a data audit of session 47).</summary>
    public static string CanonicalName(string dataset) => dataset.ToLowerInvariant() switch
    {
        "fashion-mnist" or "fashion_mnist" or "fashionmnist" => "fashion-mnist",
        "mnist" => "mnist",
        "cifar10" or "cifar-10" => "cifar10",
        "cifar100" or "cifar-100" => "cifar100",
        "imagenet" or "imagenet-1k" or "imagenet1k" => "imagenet",
        "folder" => "folder",
        _ => dataset,
    };

    /// <summary>Whether <paramref name="dataset"/> is read from class folders (DIR/train, DIR/val): a folder, or ImageNet in
    /// that layout.</summary>
    public static bool IsFolderLayout(string? dataset) => dataset is "folder" or "imagenet";

    /// <summary>Classes of a data set (folders: the class folders of DIR/<paramref name="split"/>, train or val, counted without
    /// listing their images: an evaluation of a validation-only download needs no DIR/train).</summary>
    public static int NumClasses(string dataset, string? dataDir, string split = "train") => dataset switch
    {
        "fashion-mnist" or "cifar10" => 10,
        "cifar100" => 100,
        _ when IsFolderLayout(dataset) => split is "train" or "val"
            ? ImageFolderDataset.ClassFolders(Path.Combine(Required(dataDir, dataset), split)).Count
            : throw new ArgumentException($"split must be train or val for a folder; got '{split}'"),
        _ => throw Unknown(dataset),
    };

    /// <summary>
    /// The training split with the augmentations: Fashion-MNIST zero-padded to the network side (<see cref="PipelineSteps.FashionSide"/>)
    /// plus the crop padding, then a random crop; CIFAR: pad, random 32 px crop; both optionally mirrored, normalized
    /// (channel-adapted to the model), optionally randomly erased. Folders: random-resized-crop, flip, RandAugment or else
    /// colour jitter, random erasing (the released ImageNet scripts, timm's train transform).
    /// <paramref name="dataDir"/>: null finds Fashion-MNIST in its usual places; required for the others.
    /// <paramref name="size"/> (Fashion-MNIST only): network input side, the content resized by size / side and the crop
    /// padding with it (the resolution curve of Figure 3); null: the training side.
    /// </summary>
    public static DataLoader Train(string dataset, string? dataDir, ModelConfig model, AugmentationSettings augmentation, LoaderOptions options,
                                   int? size = null)
    {
        dataset = CanonicalName(dataset);
        var loader = TrainSource(dataset, dataDir, model, augmentation, options, size);
        // one class (--classes 3, a folder with one class folder) trained to loss 0 and "100% top-1": a result that means nothing
        if (loader.ClassNames.Count < 2)
            throw new ArgumentException($"a classifier needs at least two classes; this training data has {(loader.ClassNames.Count == 0 ? "none" : $"one ({loader.ClassNames[0]})")}");
        return loader;
    }

    /// <summary>The side <paramref name="model"/> trains at on <paramref name="dataset"/>: Fashion-MNIST's 28 px rounded up to
    /// the model's input multiple, CIFAR's 32, a folder's recipe crop (<paramref name="augmentation"/>'s ImageSize), whatever
    /// the model's natural side (an ImageNet-layout network fine-tuned on Fashion-MNIST trains at 32, not 224); null for a
    /// data set these pipelines do not build (a library user's own source, trained under a recipe of another name).</summary>
    public static int? TrainingSide(string dataset, ModelConfig model, AugmentationSettings augmentation) => dataset switch
    {
        "fashion-mnist" => PipelineSteps.FashionSide(model),
        "cifar10" or "cifar100" => 32,
        _ when IsFolderLayout(dataset) => augmentation.ImageSize,
        _ => null,
    };

    static DataLoader TrainSource(string dataset, string? dataDir, ModelConfig model, AugmentationSettings augmentation, LoaderOptions options,
                                  int? size)
    {
        var a = augmentation;
        if (size is not null && dataset != "fashion-mnist")
            throw new ArgumentException($"a training image size is only for fashion-mnist; {dataset} trains at its recipe's size");
        switch (dataset)
        {
            case "fashion-mnist":
            {
                var ds = IdxReader.LoadSplit(DataLocations.ResolveFashionMnist(dataDir), train: true, DatasetInfo.FashionMnist.ClassNames, PipelineSteps.FashionMnistSide);
                return new DataLoader(ds, FashionTrainTransform(model, a, size), options);
            }
            case "cifar10" or "cifar100":
            {
                var (ds, info) = Cifar(dataset, Required(dataDir, dataset), train: true);
                return new DataLoader(ds, Augmented(info, [new RandomCrop(32, a.CropPadding)], model, a), options);
            }
            case var _ when IsFolderLayout(dataset):
                return ImageFolderTrain(Path.Combine(Required(dataDir, dataset), "train"), a, options);
            default: throw Unknown(dataset);
        }
    }

    /// <summary>
    /// An evaluation split (test for fashion-mnist/cifar, val/ for folders, or "train" without augmentation), in file
    /// order, every image. <paramref name="size"/>: network input side (null: the training side); Fashion-MNIST content
    /// is resized by size/side and padded like in training. <paramref name="tenCrop"/>: the four corners, centre and
    /// their mirrors, from an image padded by the crop padding (folders: resized to size/0.875).
    /// </summary>
    public static DataLoader Eval(string dataset, string? dataDir, ModelConfig model, AugmentationSettings augmentation, LoaderOptions options,
                                  string split = "test", int? size = null, bool tenCrop = false)
    {
        dataset = CanonicalName(dataset);
        options = options with { Shuffle = false, DropLast = false };
        if (split is not ("test" or "train" or "val")) throw new ArgumentException($"split must be test or train (folders: val or train); got '{split}'");
        if (split == "val" && !IsFolderLayout(dataset))   // only a folder has val/; the others' held-out split is test
            throw new ArgumentException($"{dataset} has no val split: test or train");
        bool train = split == "train";
        int tenCropMargin = Math.Max(1, augmentation.CropPadding);   // ten-crop needs room to move, even with no training shift
        switch (dataset)
        {
            case "fashion-mnist":
            {
                var ds = IdxReader.LoadSplit(DataLocations.ResolveFashionMnist(dataDir), train, DatasetInfo.FashionMnist.ClassNames, PipelineSteps.FashionMnistSide);
                int n = CheckSize(model, size ?? PipelineSteps.FashionSide(model));
                var steps = PipelineSteps.FashionContent(model, n, tenCrop ? n + 2 * tenCropMargin : n)
                    .Concat(PipelineSteps.Normalize(DatasetInfo.FashionMnist, model.InChannels));
                return new DataLoader(ds, new Compose(steps.ToArray()), tenCrop ? options with { TenCrop = new TenCrop(n) } : options);
            }
            case "cifar10" or "cifar100":
            {
                var (ds, info) = Cifar(dataset, Required(dataDir, dataset), train);
                int n = CheckSize(model, size ?? 32);
                var steps = new List<IImageTransform>();
                if (n != 32) steps.Add(new ResizeShortSide(n, ResampleFilter.Bicubic));
                if (tenCrop) steps.Add(new RandomCrop(n + 2 * tenCropMargin, tenCropMargin));
                steps.AddRange(PipelineSteps.Normalize(info, model.InChannels));
                return new DataLoader(ds, new Compose(steps.ToArray()), tenCrop ? options with { TenCrop = new TenCrop(n) } : options);
            }
            case var _ when IsFolderLayout(dataset):
            {
                int n = CheckSize(model, size ?? augmentation.ImageSize);
                string root = Required(dataDir, dataset);
                // class ids count in train/'s class list, val/'s matched to it by name: each split's own list picked other
                // classes, or none, where val/ lacks a class of train/ (an audit of fine-tuning and eval, session 45)
                if (!train && options.Classes is { } ids) options = options with { Classes = FolderValClasses(root, ids) };
                return ImageFolderEval(Path.Combine(root, train ? "train" : "val"), n, options, tenCrop);
            }
            default: throw Unknown(dataset);
        }
    }

    /// <summary>The class list that class ids (<see cref="LoaderOptions.Classes"/>, a run's classes) of a folder data set
    /// count in, whichever split is read: DIR/train's class folders, or DIR/val's where a download holds val/ alone.</summary>
    public static IReadOnlyList<string> FolderClassNames(string dataDir)
    {
        string trainRoot = Path.Combine(dataDir, "train");
        return ImageFolderDataset.ClassFolders(Directory.Exists(trainRoot) ? trainRoot : Path.Combine(dataDir, "val"))
                                 .Select(d => Path.GetFileName(d)!).ToArray();
    }

    /// <summary>The ids in DIR/val's class list of the classes <paramref name="ids"/> name in <see cref="FolderClassNames"/>.</summary>
    static int[] FolderValClasses(string root, IReadOnlyList<int> ids)
    {
        var names = FolderClassNames(root);
        string valRoot = Path.Combine(root, "val");
        var own = ImageFolderDataset.ClassFolders(valRoot).Select(d => Path.GetFileName(d)!).ToList();
        return ids.Select(c =>
        {
            if (c < 0 || c >= names.Count) throw new ArgumentException($"class {c} does not exist (classes 0..{names.Count - 1})");
            int id = own.IndexOf(names[c]);
            return id >= 0 ? id : throw new InvalidDataException($"{valRoot} has no folder of class {c} ({names[c]}) of {Path.Combine(root, "train")}: " +
                                                                 $"leave class {c} out of the selection, or add {Path.Combine(valRoot, names[c])}");
        }).ToArray();
    }

    /// <summary>What a Fashion-MNIST training image goes through (<see cref="Train"/>'s transform): the content placed at
    /// <paramref name="size"/> (null: the training side) with the recipe's shift, then flip, normalization and erasing.</summary>
    internal static Compose FashionTrainTransform(ModelConfig model, AugmentationSettings a, int? size = null)
    {
        int side = CheckSize(model, size ?? PipelineSteps.FashionSide(model));
        return Augmented(DatasetInfo.FashionMnist, PipelineSteps.FashionTrainCrop(model, side, a.CropPadding).ToList(), model, a);
    }

    static Compose Augmented(DatasetInfo info, List<IImageTransform> steps, ModelConfig model, AugmentationSettings a)
    {
        if (a.Flip) steps.Add(new HorizontalFlip());
        steps.AddRange(PipelineSteps.Normalize(info, model.InChannels));
        if (a.RandomErasing > 0) steps.Add(new RandomErasing(a.RandomErasing));
        return new Compose(steps.ToArray());
    }

    /// <summary>
    /// ImageNet-style training (the released ParNet scripts, timm's train transform): random-resized-crop, flip (unless
    /// the recipe turns it off), RandAugment m9 mstd0.5 or else colour jitter (timm applies jitter only without
    /// auto-augment, and the released scripts pass --aa rand-m9-mstd0.5), normalize, random erasing.
    /// </summary>
    static DataLoader ImageFolderTrain(string root, AugmentationSettings a, LoaderOptions options)
    {
        var crop = new RandomResizedCrop(a.ImageSize);
        return new DataLoader(new ImageFolderDataset(root), new Compose(FolderTrainSteps(a, crop)),
                              options with { DecodeMinShortSide = crop.SourceShortSideKept });
    }

    internal static IImageTransform[] FolderTrainSteps(AugmentationSettings a, RandomResizedCrop crop)
    {
        var steps = new List<IImageTransform> { crop };
        if (a.Flip) steps.Add(new HorizontalFlip());
        if (a.RandAugment) steps.Add(new RandAugment());
        else if (a.ColorJitter > 0) steps.Add(new ColorJitter(a.ColorJitter, a.ColorJitter, a.ColorJitter));
        steps.Add(new Normalize(DatasetInfo.ImageNetMean, DatasetInfo.ImageNetStd));
        if (a.RandomErasing > 0) steps.Add(new RandomErasing(a.RandomErasing));
        return steps.ToArray();
    }

    /// <summary>ImageNet-style evaluation: resize to size/0.875 bicubic, centre crop (or ten-crop), normalize.</summary>
    static DataLoader ImageFolderEval(string root, int size, LoaderOptions options, bool tenCrop)
    {
        var resize = new ResizeCenterCrop(size);
        var normalize = new Normalize(DatasetInfo.ImageNetMean, DatasetInfo.ImageNetStd);
        var opts = options with { DecodeMinShortSide = resize.ResizeTo };
        if (tenCrop)
            return new DataLoader(new ImageFolderDataset(root),
                new Compose(new ResizeShortSide(resize.ResizeTo), normalize), opts with { TenCrop = new TenCrop(size) });
        return new DataLoader(new ImageFolderDataset(root), new Compose(resize, normalize), opts);
    }

    /// <summary>
    /// InvalidDataException unless <paramref name="evaluated"/> has exactly the classes of <paramref name="trained"/>, in
    /// the same label order: otherwise images are scored against another class's label (an image folder whose val/
    /// names a class differently from train/), or a label is out of the model's range (an extra class).
    /// </summary>
    public static void RequireSameClasses(IReadOnlyList<string> trained, string trainedSource, IReadOnlyList<string> evaluated, string evaluatedSource)
    {
        if (trained.SequenceEqual(evaluated, StringComparer.Ordinal)) return;
        var missing = trained.Except(evaluated, StringComparer.Ordinal).ToList();
        var extra = evaluated.Except(trained, StringComparer.Ordinal).ToList();
        string Few(List<string> names) => string.Join(", ", names.Take(5)) + (names.Count > 5 ? $" and {names.Count - 5} more" : "");
        var parts = new List<string>();
        if (extra.Count > 0) parts.Add($"{evaluatedSource} has {extra.Count} class{(extra.Count > 1 ? "es" : "")} not in {trainedSource}: {Few(extra)}");
        if (missing.Count > 0) parts.Add($"{evaluatedSource} lacks {missing.Count} class{(missing.Count > 1 ? "es" : "")} of {trainedSource}: {Few(missing)}");
        if (parts.Count == 0) parts.Add($"the classes are the same but in another label order ({trainedSource}: {Few(trained.ToList())})");
        // "café" (composed) beside "café" (decomposed), or "Cat" beside "cat", read as two unrelated names (a data audit of session 47)
        var lookalikes = extra.Where(e => missing.Any(m => Lookalike(m, e))).ToList();
        if (lookalikes.Count > 0)
            parts.Add($"{Few(lookalikes)} look{(lookalikes.Count == 1 ? "s" : "")} like a name of {trainedSource} written with other letter case " +
                      "or accents encoded otherwise (Unicode composed or decomposed): rename the folder to match");
        throw new InvalidDataException($"class lists differ ({trained.Count} trained, {evaluated.Count} evaluated): {string.Join("; ", parts)}");
    }

    /// <summary>Whether two class names differ only in letter case, or, one of them holding a combining accent (decomposed
    /// Unicode), only in how their accents are encoded; this build has no Unicode normalization (invariant globalization),
    /// so the accented letters are compared as '?' (<see cref="Unaccented"/>), and only where a combining mark says there is
    /// an encoding to confuse: "猫" and "犬" are not called alike (review, session 47).</summary>
    static bool Lookalike(string a, string b) =>
        string.Equals(a, b, StringComparison.OrdinalIgnoreCase) || ((HasCombiningMark(a) || HasCombiningMark(b)) && Unaccented(a) == Unaccented(b));

    static bool HasCombiningMark(string name) => name.Any(c => char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.NonSpacingMark);

    /// <summary>Lower case, every letter beyond ASCII, composed (é) or decomposed (e and a combining accent), as '?'.</summary>
    static string Unaccented(string name)
    {
        var key = new System.Text.StringBuilder(name.Length);
        for (int i = 0; i < name.Length; i++)
        {
            bool marked = i + 1 < name.Length && char.GetUnicodeCategory(name[i + 1]) == System.Globalization.UnicodeCategory.NonSpacingMark;
            key.Append(marked || name[i] > 127 ? '?' : char.ToLowerInvariant(name[i]));
            while (i + 1 < name.Length && char.GetUnicodeCategory(name[i + 1]) == System.Globalization.UnicodeCategory.NonSpacingMark) i++;
        }
        return key.ToString();
    }

    /// <summary>
    /// <see cref="RequireSameClasses"/> for weights evaluated without their run: the class names stored with them (a
    /// run's checkpoint, a sidecar, an exported model's metadata) against the image folder's. A folder with as many
    /// classes, named or sorted otherwise, would else be scored against shifted labels with no sign of it. Nothing to
    /// compare when no names were stored, or only the placeholders "class 0", "class 1", ... (export, fuse and convert store
    /// them for weights that had none), for the data sets whose classes are fixed, or for the shipped ImageNet-1k names
    /// (readable names; an ImageNet folder names its classes by WordNet id).
    /// </summary>
    public static void RequireStoredClasses(IReadOnlyList<string>? stored, string dataset, IReadOnlyList<string> evaluated, string evaluatedSource)
    {
        if (stored is null || !IsFolderLayout(dataset) || DatasetInfo.ArePlaceholders(stored) ||
            stored.SequenceEqual(DatasetInfo.ImageNet.ClassNames, StringComparer.Ordinal)) return;
        RequireSameClasses(stored, "the classes stored with the weights", evaluated, evaluatedSource);
    }

    static int CheckSize(ModelConfig model, int n)
    {
        try { model.CheckImageSize(n, n); }
        catch (ArgumentException e) { throw new ArgumentException($"image size {n}: {e.Message}", e); }
        return n;
    }

    static string Required(string? dataDir, string dataset) =>
        dataDir ?? throw new InvalidSettingException(DataLocations.DataDirectorySetting, names =>
            $"the {dataset} data set needs a data directory ({names.Given(DataLocations.DataDirectorySetting, "DIR")}" +
            (IsFolderLayout(dataset) ? ": DIR/train and DIR/val of class folders)" : ")"));

    /// <summary>A name no pipeline reads. MNIST is a deployment's data set (its class names and statistics), with no reader here:
    /// `export --int8 --dataset mnist` said "unknown data set 'mnist'" where export's own help lists it (bench/export audit, session 41).</summary>
    static ArgumentException Unknown(string dataset) => new(dataset == "mnist"
        ? $"no reader for mnist's images here (its class names and statistics are known, for predict, serve and export); the data sets read: {string.Join(", ", Datasets)}"
        : $"unknown data set '{dataset}'; known: {string.Join(", ", Datasets)}");

    static (InMemoryImageDataset, DatasetInfo) Cifar(string dataset, string dir, bool train) => dataset == "cifar10"
        ? (CifarReader.LoadCifar10(dir, train), DatasetInfo.Cifar10)
        : (CifarReader.LoadCifar100(dir, train), DatasetInfo.Cifar100);
}
