using ParNet.Data;
using ParNet.Models;
using ParNet.Training;

namespace ParNet.Tests.Data;

/// <summary>The library's data pipelines (no CLI): the fashion-mnist recipe's augmentations on the real data set.</summary>
public class DataPipelineTests
{
    static readonly ModelConfig FashionModel = ModelRegistry.Get(Recipes.FashionMnist.Model) with { InChannels = 1 };
    const float Mean = 0.2860f, Std = 0.3530f;

    static void RequireFashionMnist() =>
        Assert.True(IdxReader.HasSplit(DataLocations.SystemFashionMnist, train: true) || IdxReader.HasSplit(DataLocations.LocalFashionMnist, train: true),
            "Fashion-MNIST is not installed: run scripts/install-data.sh");

    /// <summary>Whether <paramref name="view"/> (side x side) is the 28 px image, normalized, mirrored or not, at (top, left), zero padding around.</summary>
    static bool Matches(float[] view, int side, ImageF raw, int top, int left, bool mirrored)
    {
        float pad = (0f - Mean) / Std;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                int sy = y - top, sx = x - left;
                bool inside = sy >= 0 && sy < 28 && sx >= 0 && sx < 28;
                float expected = inside ? (raw.Data[sy * 28 + (mirrored ? 27 - sx : sx)] - Mean) / Std : pad;
                if (Math.Abs(view[y * side + x] - expected) > 1e-5f) return false;
            }
        return true;
    }

    [Fact]
    public void FashionMnist_training_batch_is_the_shifted_mirrored_padded_image()
    {
        RequireFashionMnist();
        var shifted = Recipes.FashionMnist.Augmentation() with { CropPadding = 2 };   // 28 px padded to 32 (CIFAR layout), shift +-2, flip
        var loader = DataPipelines.Train("fashion-mnist", null, FashionModel, shifted,
            new LoaderOptions { BatchSize = 64, Seed = 3, Workers = 0 });
        Assert.Equal((1, 32, 32), loader.ImageShape);
        var order = loader.EpochOrder(0);
        using var batch = loader.Epoch(0).First();
        Assert.Equal(new long[] { 64, 1, 32, 32 }, batch.Images.shape);
        var pixels = batch.Images.data<float>().ToArray();
        var labels = batch.Labels.data<long>().ToArray();
        int mirroredOnly = 0, plainOnly = 0;
        var shifts = new HashSet<(int, int)>();
        for (int i = 0; i < 64; i++)
        {
            Assert.Equal(loader.Dataset.LabelOf(order[i]), labels[i]);
            var raw = loader.Dataset.Load(order[i]);
            var view = pixels.AsSpan(i * 1024, 1024).ToArray();
            var matches = (from dy in Enumerable.Range(-2, 5) from dx in Enumerable.Range(-2, 5) from m in new[] { false, true }
                           where Matches(view, 32, raw, 2 + dy, 2 + dx, m) select (dy, dx, m)).ToList();
            Assert.True(matches.Count > 0, $"image {i} is not its 28 px original shifted by at most 2 px inside 32 px");
            if (matches.All(t => t.m)) mirroredOnly++;
            if (matches.All(t => !t.m)) plainOnly++;
            if (matches.Select(t => (t.dy, t.dx)).Distinct().Count() == 1) shifts.Add((matches[0].dy, matches[0].dx));
        }
        Assert.True(mirroredOnly > 10 && plainOnly > 10, $"flip with p = 0.5: {mirroredOnly} mirrored, {plainOnly} not, of 64");
        Assert.True(shifts.Count >= 5, $"random shifts: only {shifts.Count} distinct ones identified");
    }

    [Fact]
    public void FashionMnist_recipe_trains_on_the_centred_image_mirrored_about_half_the_time()
    {
        RequireFashionMnist();
        Assert.Equal(0, Recipes.FashionMnist.CropPadding);   // no random shift (see the recipe's summary)
        var loader = DataPipelines.Train("fashion-mnist", null, FashionModel, Recipes.FashionMnist.Augmentation(),
            new LoaderOptions { BatchSize = 64, Seed = 3, Workers = 0 });
        var order = loader.EpochOrder(0);
        using var batch = loader.Epoch(0).First();
        var pixels = batch.Images.data<float>().ToArray();
        int mirrored = 0;
        for (int i = 0; i < 64; i++)
        {
            var raw = loader.Dataset.Load(order[i]);
            var view = pixels.AsSpan(i * 1024, 1024).ToArray();
            bool plain = Matches(view, 32, raw, 2, 2, mirrored: false), mirror = Matches(view, 32, raw, 2, 2, mirrored: true);
            Assert.True(plain || mirror, $"image {i} is not its 28 px original centred in 32 px, mirrored or not");
            if (mirror && !plain) mirrored++;
        }
        Assert.InRange(mirrored, 16, 48);   // flip with p = 0.5 over 64 images: 16-48 holds with probability > 0.9999
    }

    /// <summary>Whether <paramref name="view"/> is <paramref name="centred"/> (both side x side) moved by (dy, dx), mirrored or not,
    /// with zero padding (normalized) where the move uncovers the border.</summary>
    static bool IsShifted(float[] view, float[] centred, int side, int dy, int dx, bool mirrored)
    {
        float pad = (0f - Mean) / Std;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                int sy = y - dy, sx = x - dx;
                bool inside = sy >= 0 && sy < side && sx >= 0 && sx < side;
                float expected = inside ? centred[sy * side + (mirrored ? side - 1 - sx : sx)] : pad;
                if (Math.Abs(view[y * side + x] - expected) > 1e-5f) return false;
            }
        return true;
    }

    [Theory]   // Figure 3's resolution curve (study scaling): 28 px content resized to 14 / 42 px, the +-2 px shift scaled to +-1 / +-3
    [InlineData(16, 1)]
    [InlineData(48, 3)]
    public void FashionMnist_training_at_another_side_is_the_evaluation_image_of_that_side_shifted_by_the_scaled_padding(int side, int shift)
    {
        RequireFashionMnist();
        var augmentation = Recipes.FashionMnist.Augmentation() with { CropPadding = 2 };   // the studies' shift
        var options = new LoaderOptions { BatchSize = 32, Seed = 5, Workers = 0, Shuffle = false };
        var train = DataPipelines.Train("fashion-mnist", null, FashionModel, augmentation, options, size: side);
        var eval = DataPipelines.Eval("fashion-mnist", null, FashionModel, augmentation, options, split: "train", size: side);
        Assert.Equal((1, side, side), train.ImageShape);
        using var trainBatch = train.Epoch(0).First();
        using var evalBatch = eval.Epoch(0).First();
        Assert.Equal(new long[] { 32, 1, side, side }, trainBatch.Images.shape);
        var trained = trainBatch.Images.data<float>().ToArray();
        var centred = evalBatch.Images.data<float>().ToArray();
        int n = side * side;
        var moves = new HashSet<(int, int)>();
        for (int i = 0; i < 32; i++)
        {
            var view = trained.AsSpan(i * n, n).ToArray();
            var reference = centred.AsSpan(i * n, n).ToArray();
            var matches = (from dy in Enumerable.Range(-shift, 2 * shift + 1) from dx in Enumerable.Range(-shift, 2 * shift + 1)
                           from m in new[] { false, true } where IsShifted(view, reference, side, dy, dx, m) select (dy, dx)).ToList();
            Assert.True(matches.Count > 0, $"image {i} at {side} px is not the centred {side} px image shifted by at most {shift} px");
            if (matches.Distinct().Count() == 1) moves.Add(matches[0]);
        }
        Assert.True(moves.Count >= 4, $"random shifts at {side} px: only {moves.Count} distinct ones identified");
        Assert.Equal("image size 24: the 28 px Fashion-MNIST image scaled by 24/32 is 21 px, which leaves an odd margin of 3 px " +
                     "and cannot sit centred; sizes that work near it: 16 or 32",
            Assert.Throws<ArgumentException>(() => DataPipelines.Train("fashion-mnist", null, FashionModel, augmentation, options, size: 24)).Message);
        Assert.EndsWith("35 px, which leaves an odd margin of 5 px and cannot sit centred; sizes that work near it: 32 or 48",
            Assert.Throws<ArgumentException>(() => DataPipelines.Eval("fashion-mnist", null, FashionModel, augmentation, options, size: 40)).Message);
    }

    [Fact]
    public void FashionMnist_evaluation_centres_the_image_without_augmentation()
    {
        RequireFashionMnist();
        var loader = DataPipelines.Eval("fashion-mnist", null, FashionModel, Recipes.FashionMnist.Augmentation(),
            new LoaderOptions { BatchSize = 16, Workers = 0, Shuffle = true });
        using var batch = loader.Epoch(0).First();
        var pixels = batch.Images.data<float>().ToArray();
        for (int i = 0; i < 16; i++)   // file order (evaluation never shuffles), content at (2, 2)
            Assert.True(Matches(pixels.AsSpan(i * 1024, 1024).ToArray(), 32, loader.Dataset.Load(i), 2, 2, mirrored: false), $"test image {i}");
    }

    [Fact]
    public void Bad_input_is_an_argument_exception_that_says_what_is_wrong()
    {
        var augmentation = new AugmentationSettings();
        var options = new LoaderOptions();
        Assert.Contains("unknown data set 'svhn'", Assert.Throws<ArgumentException>(() => DataPipelines.Train("svhn", "x", FashionModel, augmentation, options)).Message);
        // the data directory is named as the API takes it (dataDir), not by `parnet train`'s --data (DataErrorTests: the command's words)
        var missing = Assert.Throws<ParNet.Runtime.InvalidSettingException>(() => DataPipelines.Train("cifar10", null, FashionModel, augmentation, options));
        Assert.Equal(("the cifar10 data set needs a data directory (dataDir = DIR)", "dataDir"), (missing.Message, missing.ParamName));
        Assert.Equal("the folder data set needs a data directory (dataDir = DIR: DIR/train and DIR/val of class folders)",
            Assert.Throws<ParNet.Runtime.InvalidSettingException>(() => DataPipelines.Train("folder", null, FashionModel, augmentation, options)).Message);
        Assert.Contains("split must be test or train", Assert.Throws<ArgumentException>(() => DataPipelines.Eval("cifar10", "x", FashionModel, augmentation, options, split: "dev")).Message);
    }

    [Fact]
    public void Normalize_adapts_grey_to_rgb_and_rejects_other_channel_counts()
    {
        var steps = PipelineSteps.Normalize(DatasetInfo.FashionMnist, 3).ToArray();
        var image = new ImageF(1, 1, 1);
        image.Data[0] = 0.5f;
        foreach (var step in steps) image = step.Apply(image, new SampleRandom(0));
        Assert.Equal(3, image.Channels);
        Assert.All(image.Data, v => Assert.Equal((0.5f - Mean) / Std, v, 5));
        Assert.Contains("has 1 channel(s); the model takes 4", Assert.Throws<ArgumentException>(() => PipelineSteps.Normalize(DatasetInfo.FashionMnist, 4)).Message);
    }

    /// <summary>Training's evaluations run at twice the training batch up to 256 (they keep no activations for a backward
    /// pass), never below the training batch; they ran at 256 whatever the batch, and a ParNet-S trained at 224 px with
    /// batch 3 was killed by the kernel 24 GB into its first evaluation (sizes audit, session 38).</summary>
    [Fact]
    public void Evaluation_during_training_takes_twice_the_training_batch_up_to_256_not_a_fixed_256()
    {
        Assert.Equal(256, EvaluationDefaults.DuringTraining(ParNet.Training.Recipes.FashionMnist.BatchSize));   // the main job's, as before
        Assert.Equal(256, EvaluationDefaults.DuringTraining(ParNet.Training.Recipes.ImageNet.BatchSize));   // as before: not 512
        Assert.Equal(6, EvaluationDefaults.DuringTraining(3));
        Assert.Equal(int.MaxValue, EvaluationDefaults.DuringTraining(int.MaxValue));   // no overflow
    }

    [Fact]
    public void Folder_training_follows_the_recipe_and_timm_flip_off_and_jitter_only_without_randaugment()
    {
        var crop = new RandomResizedCrop(224);
        Type[] Kinds(AugmentationSettings a) => DataPipelines.FolderTrainSteps(a, crop).Select(t => t.GetType()).ToArray();
        var imagenet = Recipes.ImageNet.Augmentation();
        Assert.Equal([typeof(RandomResizedCrop), typeof(HorizontalFlip), typeof(RandAugment), typeof(Normalize)], Kinds(imagenet));
        Assert.Equal([typeof(RandomResizedCrop), typeof(RandAugment), typeof(Normalize)], Kinds(imagenet with { Flip = false }));   // --no-flip was ignored here
        Assert.Equal([typeof(RandomResizedCrop), typeof(HorizontalFlip), typeof(ColorJitter), typeof(Normalize), typeof(RandomErasing)],
                     Kinds(imagenet with { RandAugment = false, ColorJitter = 0.4f, RandomErasing = 0.25 }));
        Assert.Equal(0, imagenet.ColorJitter);   // timm's 0.4 is never applied beside RandAugment: the recipe records none
    }

    [Fact]
    public void Folder_training_decodes_no_smaller_than_keeps_every_crop_at_the_training_side()
    {
        var crop = new RandomResizedCrop(224);
        int side = crop.SourceShortSideKept;
        Assert.Equal(915, side);   // 224 / sqrt(0.08 * 3/4): the smallest, most elongated crop
        var random = new SampleRandom(7);
        for (int i = 0; i < 20000; i++)
        {
            var (_, _, h, w) = crop.SampleBox(side, side, random);
            Assert.True(Math.Min(h, w) >= 224, $"a {h}x{w} crop of a {side} px square image");
        }
        var (_, _, h2, w2) = Enumerable.Range(0, 20000).Select(_ => crop.SampleBox(side / 2, side / 2, random)).MinBy(b => Math.Min(b.Height, b.Width));
        Assert.True(Math.Min(h2, w2) < 224);   // decoded at half that, the smallest crops would be upsampled
    }
    /// <summary>Ten-crop resizes the whole image: a 100,000 x 1 image (0.1 MP, within the decoder's limit) came out 256 x
    /// 25,600,000 and overflowed ImageF's size, a stack trace from eval (a data audit of session 47): refused, naming the file.</summary>
    [Fact]
    public void Ten_crop_refuses_an_image_too_elongated_to_resize_naming_it()
    {
        using var dir = new TempDirectory();
        foreach (var split in new[] { "train", "val" })
            foreach (var cls in new[] { "a", "b" })
            {
                Directory.CreateDirectory(Path.Combine(dir.Path, split, cls));
                System.IO.File.WriteAllBytes(Path.Combine(dir.Path, split, cls, "ok.png"), TempDirectory.EncodeImage(40, 30, (x, y) => ((byte)x, (byte)y, 0), SkiaSharp.SKEncodedImageFormat.Png));
            }
        string elongated = Path.Combine(dir.Path, "val", "b", "long.png");
        System.IO.File.WriteAllBytes(elongated, TempDirectory.EncodeImage(100_000, 1, (x, _) => ((byte)x, 0, 0), SkiaSharp.SKEncodedImageFormat.Png));
        var model = ModelRegistry.Get("parnet_s") with { NumClasses = 2 };
        var loader = DataPipelines.Eval("folder", dir.Path, model, new AugmentationSettings { ImageSize = 224 },
                                        new LoaderOptions { BatchSize = 4, Workers = 0 }, split: "val", tenCrop: true);
        var e = Assert.Throws<InvalidDataException>(() => { foreach (var batch in loader.Epoch(0)) batch.Dispose(); });
        Assert.Equal($"{elongated}: 1x100000 px, resized to a short side of 256, would be 256x25,600,000: more than the 64 megapixels an image is limited to " +
                     "(too elongated for this resize)", e.Message);
    }
    [Fact]
    public void Class_names_that_differ_only_in_unicode_composition_are_said_to()
    {
        string composed = "caf\u00e9", decomposed = "cafe\u0301";   // both "café" on screen
        var e = Assert.Throws<InvalidDataException>(() => DataPipelines.RequireSameClasses(["bee", composed], "train/", ["bee", decomposed], "val/"));
        Assert.Equal($"class lists differ (2 trained, 2 evaluated): val/ has 1 class not in train/: {decomposed}; val/ lacks 1 class of train/: {composed}; " +
                     $"{decomposed} looks like a name of train/ written with other letter case or accents encoded otherwise (Unicode composed or decomposed): " +
                     "rename the folder to match", e.Message);
        foreach (var (trained, evaluated) in new[] { ("cat", "dog"), ("\u732b", "\u72ac"), ("M\u00fcller", "M\u00f6ller") })   // neither encoding nor case
            Assert.DoesNotContain("looks like", Assert.Throws<InvalidDataException>(() => DataPipelines.RequireSameClasses(["bee", trained], "train/", ["bee", evaluated], "val/")).Message);
    }
}
