using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using ParNet.Runtime;

namespace ParNet.Training;

/// <summary>How the learning rate moves over training (see <see cref="LrSchedules"/>).</summary>
public enum ScheduleKind
{
    /// <summary>x <see cref="Recipe.StepGamma"/> every <see cref="Recipe.StepEpochs"/> epochs.</summary>
    Step,
    /// <summary>x <see cref="Recipe.StepGamma"/> at each fraction of training in <see cref="Recipe.Milestones"/>.</summary>
    MultiStep,
    /// <summary>Half cosine from the base LR down to <see cref="Recipe.MinLr"/>.</summary>
    Cosine,
    /// <summary>Linear decay to <see cref="Recipe.MinLr"/> (used by short "one-cycle-like" CPU schedules).</summary>
    Linear,
    Constant,
}

/// <summary>
/// A training recipe: every hyper-parameter of a run, as data. Presets live in <see cref="Recipes"/>;
/// the CLI overrides any field with `with { ... }`. Epochs are whole passes over the training set;
/// schedules are evaluated per step at fractional epochs (warm-up and cosine are smooth, step decays
/// happen exactly at their epoch boundaries). The defaults below are what a recipe that does not say takes (a JSON file,
/// a new record): the paper's CIFAR values where it has them, the main job's otherwise; every preset sets its own.
/// </summary>
public sealed record Recipe
{
    /// <summary>"custom": a recipe that is none of the presets.</summary>
    public string Name { get; init; } = "custom";
    public string Description { get; init; } = "";

    /// <summary>Data set the preset was made for: fashion-mnist, cifar10, cifar100, imagenet (folders). Default fashion-mnist:
    /// the main job's, and the one data set these machines hold.</summary>
    public string Dataset { get; init; } = "fashion-mnist";

    /// <summary>Model registry name used when none is given on the command line (default: the main job's network); in a
    /// run's recipe.json, the network the run trained (a registry name, or its configuration's name: model.json holds it).</summary>
    public string Model { get; init; } = "parnet_cifar_small";

    /// <summary>CIFAR-layout width override (planes [w, 2w, 4w], final 4w); null keeps the registry's.</summary>
    public int? Width { get; init; }

    /// <summary>
    /// The network this recipe trains on a data set of <paramref name="numClasses"/> classes of
    /// <paramref name="inChannels"/>-channel images: the registered <see cref="Model"/>, at <see cref="Width"/>, with the
    /// recipe's dropouts (what `parnet train --recipe NAME` builds when no model is given).
    /// </summary>
    public ParNet.Models.ModelConfig Network(int numClasses, int inChannels = 3)
    {
        var model = ParNet.Models.ModelRegistry.Get(Model);
        if (Width is int w) model = model.WithCifarWidth(w);
        return WithDropouts(model with { NumClasses = numClasses, InChannels = inChannels }).Validate();
    }

    /// <summary><paramref name="model"/> with this recipe's dropout overrides (<see cref="HeadDropout"/>, <see cref="BlockDropout"/>).</summary>
    public ParNet.Models.ModelConfig WithDropouts(ParNet.Models.ModelConfig model) =>
        model with { HeadDropout = HeadDropout ?? model.HeadDropout, BlockDropout = BlockDropout ?? model.BlockDropout };

    /// <summary>10: a short run, minutes on 2 cores for the main job's network (its preset trains 8).</summary>
    public int Epochs { get; init; } = 10;
    /// <summary>128: the paper's CIFAR batch (section 3.3), and the main job's.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Learning rate at <see cref="ReferenceBatchSize"/>; scaled linearly with the batch size. 0.1: the paper's
    /// CIFAR LR at batch 128.</summary>
    public double Lr { get; init; } = 0.1;

    /// <summary>Batch size at which <see cref="Lr"/> holds (linear scaling rule); null: no scaling.</summary>
    public int? ReferenceBatchSize { get; init; }

    /// <summary>0.9: the paper's SGD momentum, on CIFAR and ImageNet alike.</summary>
    public double Momentum { get; init; } = 0.9;
    public bool Nesterov { get; init; }
    /// <summary>5e-4: the main job's (the common CIFAR ResNet value; the paper's CIFAR recipe takes 3e-4).</summary>
    public double WeightDecay { get; init; } = 5e-4;

    /// <summary>No weight decay on BatchNorm weights/biases and on biases (timm's "filter_bias_and_bn").</summary>
    public bool NoDecayBnBias { get; init; }

    /// <summary>Cosine: a run of any length ends annealed (the paper's long ImageNet run, the main job).</summary>
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Cosine;
    public double WarmupEpochs { get; init; }
    /// <summary>Warm-up starts at Lr x this factor and rises linearly to Lr (default 0: from zero).</summary>
    public double WarmupStartFactor { get; init; } = 0.0;
    /// <summary>30 epochs, x0.1: the paper's ImageNet step schedule.</summary>
    public int StepEpochs { get; init; } = 30;
    public double StepGamma { get; init; } = 0.1;
    /// <summary>Fractions of <see cref="Epochs"/> at which a multi-step schedule multiplies by <see cref="StepGamma"/>. Immutable:
    /// a writable array was shared by a preset and every copy made `with` it, so one caller's write changed the preset for the
    /// whole process (a library audit of session 47).</summary>
    public System.Collections.Immutable.ImmutableArray<double> Milestones { get; init; } = [];
    public double MinLr { get; init; }

    public double LabelSmoothing { get; init; }

    /// <summary>EMA decay of the weights per step (0: off). Evaluation uses the EMA weights when on.</summary>
    public double EmaDecay { get; init; }

    /// <summary>Factor on the LR of every parameter but the classifier's (fine-tuning: a pretrained backbone moves less
    /// than the new head); 1: one LR for all.</summary>
    public double BackboneLrScale { get; init; } = 1.0;

    /// <summary>Dropout overrides applied to the model config (null keeps the model's).</summary>
    public double? HeadDropout { get; init; }
    public double? BlockDropout { get; init; }

    // augmentation
    /// <summary>Random shift of up to 4 pixels (pad, then crop) with random flips: the paper's CIFAR crop + flip, as ResNet's CIFAR recipe.</summary>
    public int CropPadding { get; init; } = 4;
    public bool Flip { get; init; } = true;
    public double RandomErasing { get; init; }
    public bool RandAugment { get; init; }
    public float ColorJitter { get; init; }
    /// <summary>Training/test image side for image-folder data sets (ImageNet: 224; the paper's long run 320).</summary>
    public int ImageSize { get; init; } = 224;

    public int Seed { get; init; }

    /// <summary>The augmentation fields, as the data pipelines take them (<see cref="ParNet.Data.DataPipelines"/>).</summary>
    public ParNet.Data.AugmentationSettings Augmentation() => new()
    {
        CropPadding = CropPadding, Flip = Flip, RandomErasing = RandomErasing, RandAugment = RandAugment,
        ColorJitter = ColorJitter, ImageSize = ImageSize,
    };

    /// <summary>Every epoch is warm-up: the LR only rises and ends at its peak, never decaying (a trial `--epochs 1` of
    /// a recipe with one warm-up epoch).</summary>
    public bool AllWarmup => WarmupEpochs > 0 && WarmupEpochs >= Epochs;

    /// <summary>The effective base LR for <paramref name="batchSize"/> under the linear scaling rule.</summary>
    public double ScaledLr(int batchSize) => ReferenceBatchSize is int reference ? Lr * batchSize / reference : Lr;

    public Recipe Validate()
    {
        // every range written as "x is in it", so that NaN (which no comparison holds for) is refused with the rest
        if (Epochs < 1) throw Refused(nameof(Epochs), "epochs", "must be >= 1", Epochs);
        if (BatchSize < 1) throw Refused(nameof(BatchSize), "the batch size", "must be >= 1", BatchSize);
        if (!(Lr is > 0 and < double.PositiveInfinity)) throw Refused(nameof(Lr), "the learning rate", "must be positive and finite", Lr);
        if (!(Momentum is >= 0 and < 1)) throw Refused(nameof(Momentum), "the momentum", "must be in [0, 1)", Momentum);
        if (Nesterov && Momentum == 0) throw Refused(nameof(Nesterov), "Nesterov momentum", "needs a momentum > 0", Momentum, nameof(Momentum));
        if (!(WeightDecay is >= 0 and < double.PositiveInfinity)) throw Refused(nameof(WeightDecay), "the weight decay", "must be >= 0 and finite", WeightDecay);
        if (!(LabelSmoothing is >= 0 and < 1)) throw Refused(nameof(LabelSmoothing), "the label smoothing", "must be in [0, 1)", LabelSmoothing);
        if (!(EmaDecay is >= 0 and < 1)) throw Refused(nameof(EmaDecay), "the EMA decay", "must be in [0, 1)", EmaDecay);
        if (!(BackboneLrScale is > 0 and <= 1)) throw Refused(nameof(BackboneLrScale), "the backbone LR scale", "must be in (0, 1]", BackboneLrScale);
        if (!(WarmupEpochs >= 0 && WarmupEpochs <= Epochs)) throw Refused(nameof(WarmupEpochs), "the warm-up epochs", $"must be in [0, {Epochs}]", WarmupEpochs);
        if (StepEpochs < 1) throw Refused(nameof(StepEpochs), "the epochs between LR steps", "must be >= 1", StepEpochs);
        // a negative final LR or step factor trained by gradient ascent (--min-lr -1: LR -1 by the last epoch, test loss 1316)
        if (!(MinLr is >= 0 and < double.PositiveInfinity)) throw Refused(nameof(MinLr), "the final LR", "must be >= 0 and finite", MinLr);
        if (!(StepGamma is > 0 and < double.PositiveInfinity)) throw Refused(nameof(StepGamma), "the LR factor at each step", "must be positive and finite", StepGamma);
        foreach (double milestone in Milestones)
            if (!(milestone is > 0 and < 1)) throw Refused(nameof(Milestones), "a milestone", "must be a fraction of training in (0, 1)", milestone);
        // `--schedule multistep` on a recipe without milestones (every preset but cifar) trained at a constant LR, without a word
        if (Schedule == ScheduleKind.MultiStep && Milestones.Length == 0)
            throw new InvalidSettingException(SettingNames.Of(nameof(Recipe), nameof(Milestones)), names =>
                $"recipe {Name}: a multistep schedule needs milestones ({names.Name(SettingNames.Of(nameof(Recipe), nameof(Milestones)))}, fractions of " +
                "training such as 0.3,0.6,0.8); without them the LR would never step");
        if (HeadDropout is double head && !(head is >= 0 and < 1)) throw Refused(nameof(HeadDropout), "the dropout before the classifier", "must be in [0, 1)", head);
        if (BlockDropout is double block && !(block is >= 0 and < 1)) throw Refused(nameof(BlockDropout), "the dropout inside the blocks", "must be in [0, 1)", block);
        if (CropPadding < 0) throw Refused(nameof(CropPadding), "the random-shift padding", "must be >= 0", CropPadding);
        // a probability: 2 trained as 1 (every image erased) with no word, where torchvision's RandomErasing refuses it
        if (!(RandomErasing is >= 0 and <= 1)) throw Refused(nameof(RandomErasing), "the random-erasing probability", "must be in [0, 1]", RandomErasing);
        return this;
    }

    /// <summary>A refusal that names the setting beside what it is: "recipe fashion-mnist: the final LR (Recipe.MinLr) must be >= 0; got -1";
    /// <paramref name="valueOf"/>: the member the value is of, when it is another setting's ("...; Recipe.Momentum = 0").</summary>
    InvalidSettingException Refused(string member, string what, string rule, double value, string? valueOf = null)
    {
        string setting = SettingNames.Of(nameof(Recipe), member), recipe = Name;
        string? other = valueOf is null ? null : SettingNames.Of(nameof(Recipe), valueOf);
        return new(setting, names => string.Create(CultureInfo.InvariantCulture,
            $"recipe {recipe}: {what} ({names.Name(setting)}) {rule}; {(other is null ? $"got {value}" : names.Given(other, value))}"));
    }

    /// <summary>This recipe, its <see cref="Description"/> the preset's followed by the fields that differ from
    /// <paramref name="preset"/>'s ("...; changed from the preset: Epochs 1, Width 8"): a run's recipe.json kept the preset's
    /// prose ("w=16 ... 8 epochs") over a run of other values (a left item of session 44).</summary>
    public Recipe DescribedAgainst(Recipe preset)
    {
        static string Said(JsonNode value) => value is JsonValue v && v.TryGetValue<string>(out var text) ? text : value.ToJsonString();
        var (mine, theirs) = (JsonNode.Parse(ToJson())!.AsObject(), JsonNode.Parse(preset.ToJson())!.AsObject());
        var changed = mine.Where(kv => kv.Key != nameof(Description) && typeof(Recipe).GetProperty(kv.Key)?.CanWrite == true   // not AllWarmup, which follows
                                       && kv.Value is not null   // unset: the model's own (its width)
                                       && kv.Value.ToJsonString() != theirs[kv.Key]?.ToJsonString())
                          .Select(kv => $"{kv.Key} {Said(kv.Value!)}").ToList();
        return this with { Description = changed.Count == 0 ? preset.Description : $"{preset.Description}; changed from the preset: {string.Join(", ", changed)}" };
    }

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };
    public string ToJson() => JsonSerializer.Serialize(this, Json);
    public static Recipe FromJson(string json) => JsonSerializer.Deserialize<Recipe>(json, Json) ?? throw new InvalidDataException("empty recipe");
}

/// <summary>The named presets (data, not code paths).</summary>
public static class Recipes
{
    /// <summary>
    /// Paper section 3.3 (CIFAR-10/100): SGD momentum 0.9, batch 128, LR 0.1 divided by 5 at 30/60/80% of
    /// 400 epochs, weight decay 3e-4, dropout 0.2 in the blocks and before the classifier, crop + flip.
    /// </summary>
    public static Recipe Cifar { get; } = new()
    {
        Name = "cifar", Description = "paper: CIFAR, SGD 0.9, batch 128, LR 0.1 /5 at 30/60/80%, wd 3e-4, dropout 0.2/0.2, 400 epochs",
        Dataset = "cifar10", Model = "parnet_cifar_medium",
        Epochs = 400, BatchSize = 128, Lr = 0.1, Momentum = 0.9, WeightDecay = 3e-4,
        Schedule = ScheduleKind.MultiStep, Milestones = [0.3, 0.6, 0.8], StepGamma = 0.2,
        HeadDropout = 0.2, BlockDropout = 0.2, CropPadding = 4, Flip = true, ImageSize = 32,
    };

    /// <summary>
    /// Paper (ImageNet): SGD, LR 0.8 at batch 2048 scaled linearly, 5 warm-up epochs, x0.1 every 30 epochs,
    /// 120 epochs, label smoothing 0.1, random-resized-crop, flip, RandAugment. No colour jitter: timm (which the released
    /// scripts train with, --aa rand-m9-mstd0.5) applies its default jitter 0.4 only without auto-augment, so the recipe
    /// records none rather than a 0.4 never applied (a library recipe with RandAugment off may set ColorJitter).
    /// </summary>
    public static Recipe ImageNet { get; } = new()
    {
        Name = "imagenet", Description = "paper: ImageNet, SGD, LR 0.8 @ batch 2048 (linear scaling), 5 warm-up epochs, x0.1 every 30, 120 epochs, LS 0.1",
        Dataset = "imagenet", Model = "parnet_s",
        Epochs = 120, BatchSize = 256, Lr = 0.8, ReferenceBatchSize = 2048, Momentum = 0.9, WeightDecay = 5e-5,
        Schedule = ScheduleKind.Step, StepEpochs = 30, StepGamma = 0.1, WarmupEpochs = 5,
        LabelSmoothing = 0.1, RandAugment = true, ColorJitter = 0, Flip = true, ImageSize = 224, CropPadding = 0,
    };

    /// <summary>Paper's longer ImageNet run: 200 epochs, cosine (same warm-up and scaling).</summary>
    public static Recipe ImageNetLong { get; } = ImageNet with
    {
        Name = "imagenet-long", Description = "paper: ImageNet long, 200 epochs, cosine, otherwise as imagenet",
        Epochs = 200, Schedule = ScheduleKind.Cosine,
    };

    /// <summary>
    /// Ours, for a 2-core CPU (see RESULTS.md for the measurements behind it): ParNet in the CIFAR layout
    /// (depth 12), width 16 (planes 16/32/64): the smallest width whose every conv is a multiple of 16
    /// channels (oneDNN's fast and correct path, see LibTorchWorkarounds), ~780 images/s of training here,
    /// so 8 epochs fit in about 10 minutes; wider nets learn more per epoch but fewer epochs fit.
    /// 28x28 grey images padded to 32x32 (the layout needs a multiple of 8), centred, with random flips and no random
    /// shift: Fashion-MNIST's objects are centred, and without the +-2 px shift of earlier versions the net learns faster
    /// per epoch (RESULTS.md, "A recipe for 5 epochs": +0.7-0.9 points at 4-5 epochs, 93.86% against 92.84-93.55% at 8),
    /// which is what a slow CPU's 12-minute budget needs; longer runs may want the shift back (`--padding 2`).
    /// SGD Nesterov 0.9, batch 128, LR 0.1 with a 1-epoch warm-up then cosine to 0 (a short run
    /// must end annealed), weight decay 5e-4 (not on BN/bias), label smoothing 0.1, no dropout (8 epochs
    /// do not overfit 60k images).
    /// </summary>
    public static Recipe FashionMnist { get; } = new()
    {
        Name = "fashion-mnist", Description = "ours: ParNet CIFAR layout w=16 on 32x32-padded Fashion-MNIST, flips, no shift, 8 epochs, Nesterov SGD, warm-up 1 + cosine, LS 0.1",
        Dataset = "fashion-mnist", Model = "parnet_cifar_small", Width = 16,
        Epochs = 8, BatchSize = 128, Lr = 0.1, Momentum = 0.9, Nesterov = true, WeightDecay = 5e-4, NoDecayBnBias = true,
        Schedule = ScheduleKind.Cosine, WarmupEpochs = 1, WarmupStartFactor = 0.1,
        LabelSmoothing = 0.1, HeadDropout = 0.0, BlockDropout = 0.0, CropPadding = 0, Flip = true, ImageSize = 32,
    };

    /// <summary>
    /// Fine-tuning pretrained weights on a small data set (`parnet train --recipe finetune --pretrained W`), on the main
    /// job's network and data unless told otherwise.
    /// </summary>
    public static Recipe FineTune { get; } = new()
    {
        Name = "finetune", Description = "ours: fine-tune pretrained weights: LR 0.01 (a tenth of from-scratch), 30 epochs of a small set, no warm-up, cosine, wd 1e-4",
        Dataset = "fashion-mnist", Model = "parnet_cifar_small", Width = 16,
        Epochs = 30,          // a few hundred images: 30 passes are ~100-250 steps, seconds to minutes on 2 cores
        BatchSize = 64,       // small data: more, smaller steps per epoch than the main job's 128
        Lr = 0.01,            // pretrained features: a tenth of the from-scratch LR keeps them (timm fine-tunes at 1/10 to 1/100)
        Momentum = 0.9, Nesterov = true,
        WeightDecay = 1e-4,   // a fifth of from-scratch: the weights start where they should be
        NoDecayBnBias = true,
        Schedule = ScheduleKind.Cosine, WarmupEpochs = 0,   // no warm-up: the weights are not random, BN statistics are set
        LabelSmoothing = 0.1, HeadDropout = 0.0, BlockDropout = 0.0, CropPadding = 2, Flip = true, ImageSize = 32,
    };

    public static IReadOnlyList<Recipe> All { get; } = [FashionMnist, Cifar, ImageNet, ImageNetLong, FineTune];

    public static IReadOnlyList<string> Names { get; } = All.Select(r => r.Name).ToList();

    public static Recipe Get(string name) => All.FirstOrDefault(r => r.Name == name)
        ?? throw new ArgumentException($"unknown recipe '{name}'; known recipes: {string.Join(", ", Names)}");
}
