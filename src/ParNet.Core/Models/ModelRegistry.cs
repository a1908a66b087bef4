namespace ParNet.Models;

/// <summary>
/// The named variants: the paper's Table A1 (ImageNet), the released S checkpoint, the CIFAR layout of
/// section 3.3 and the ResNet12-Wide baseline of Table 8. This table is the one place these numbers live.
/// </summary>
public static class ModelRegistry
{
    static ModelConfig ImageNet(string name, int[] planes, int finalWidth, double headDropout) => new()
    {
        Name = name,
        Planes = planes,
        FinalWidth = finalWidth,
        BlocksPerStream = [4, 5, 5],   // depth 12
        HeadDropout = headDropout,     // spec: 0 for S/M, 0.1 for L/XL
    };

    // CIFAR (section 3.3): widths [w, 2w, 4w]; one block fewer per stream; dropout 0.2 in the blocks
    // and before the classifier. FinalWidth (the narrow 1x1 conv at depth 11) is 4w rounded: the paper
    // gives no number; with it the fused sizes land near 1.3M / 15.5M / 35M (see the registry test).
    static ModelConfig Cifar(string name, int w) => new()
    {
        Name = name,
        Layout = Layout.Cifar,
        Planes = [w, 2 * w, 4 * w],
        FinalWidth = 4 * w,
        BlocksPerStream = [3, 4, 4],
        NumClasses = 10,
        HeadDropout = 0.2,
        BlockDropout = 0.2,
    };

    static readonly ModelConfig[] Variants =
    [
        ImageNet("parnet_s", [96, 192, 384], 1280, 0.0),     // Table A1
        // the released S checkpoint: only stream 1 is narrower, and ReLU, as their code builds the released YAML file (its
        // `additional_branches: [[swish]]`, AuthorsYamlConfig) and so trained the weights; SiLU runs them wrongly
        ImageNet("parnet_s92", [92, 192, 384], 1280, 0.0) with { Activation = ActivationKind.ReLU },
        ImageNet("parnet_m", [128, 256, 512], 2048, 0.0),
        ImageNet("parnet_l", [160, 320, 640], 2560, 0.1),
        ImageNet("parnet_xl", [200, 400, 800], 3200, 0.1),
        Cifar("parnet_cifar_small", 32),
        Cifar("parnet_cifar_medium", 110),
        Cifar("parnet_cifar_large", 165),
        new()
        {
            Name = "resnet12_wide",   // Table 8 baseline: stem + 5 basic blocks + classifier = depth 12
            BlockType = BlockType.ResNetBasic,
            Planes = [128, 256, 512, 1024],   // wide enough to hold about ParNet-S's parameter count
            BlocksPerStream = [2, 1, 1, 1],
            FinalWidth = 1024,
        },
    ];

    public static IReadOnlyList<string> Names { get; } = Variants.Select(v => v.Name).ToList();

    /// <summary>The configuration of a named variant, a copy of the caller's own (its arrays too: writing into them changes
    /// nothing here); throws naming the known variants otherwise.</summary>
    public static ModelConfig Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);   // a null name read "unknown model ''" (walk F, session 29)
        return (Variants.FirstOrDefault(v => v.Name == name)
                ?? throw new ArgumentException($"unknown model '{name}'; known models: {string.Join(", ", Names)}")).Detached();
    }

    public static ImageClassifier Create(string name) => ModelFactory.Create(Get(name));

    /// <summary>timm's create_model(name, num_classes, in_chans), without weights (for those see
    /// <c>ParNet.Training.Pretrained.CreateModel</c>): the variant with another class count or input channel count.</summary>
    public static ImageClassifier Create(string name, int? numClasses = null, int? inChannels = null)
    {
        var config = Get(name);
        return ModelFactory.Create(config with { NumClasses = numClasses ?? config.NumClasses, InChannels = inChannels ?? config.InChannels });
    }

    /// <summary>timm's list_models: the names matching a pattern where * is any run of characters and ? one (ordinal).</summary>
    public static IReadOnlyList<string> List(string pattern = "*")
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var regex = new System.Text.RegularExpressions.Regex(
            "^" + System.Text.RegularExpressions.Regex.Escape(pattern).Replace("\\*", ".*").Replace("\\?", ".") + "$");
        return Names.Where(n => regex.IsMatch(n)).ToList();
    }
}
