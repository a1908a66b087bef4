using ParNet.Runtime;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ParNet.Models;

/// <summary>Where the network starts: ImageNet (stride-2 stem, 224 px) or CIFAR (paper section 3.3, 32 px).</summary>
public enum Layout { ImageNet, Cifar }

/// <summary>
/// RepVggSse: ParNet's streams of RepVGG-SSE blocks. ResNetBasic: the depth-12 baseline of Table 8
/// (ResNet12-Wide), one stream of basic residual blocks, one stage per entry of Planes.
/// </summary>
public enum BlockType { RepVggSse, ResNetBasic }

/// <summary>
/// One record per variant (timm style). Every knob of the paper's scaling and ablation studies is here.
/// Construct through <see cref="Validate"/> (the factory does) so a bad value fails with a message naming it.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>Registry name, or "custom".</summary>
    public string Name { get; init; } = "custom";

    /// <summary>Width of each stream, P0..P(S-1); the number of entries is the number of streams (Table 10: 1-4).</summary>
    public required int[] Planes { get; init; }

    /// <summary>Width of the block at depth 11 (ImageNet: the wide downsampling; CIFAR: a 1x1 conv).</summary>
    public required int FinalWidth { get; init; }

    /// <summary>Stream blocks per stream: 4/5/5 gives depth 12; 1/2/2 depth 9 and 7/8/8 depth 15 (Table 11).</summary>
    public required int[] BlocksPerStream { get; init; }

    public Layout Layout { get; init; } = Layout.ImageNet;
    public BlockType BlockType { get; init; } = BlockType.RepVggSse;

    /// <summary>SiLU is the paper's choice.</summary>
    public ActivationKind Activation { get; init; } = ActivationKind.SiLU;

    /// <summary>Skip-Squeeze-Excitation in the stream blocks (Table 7 ablation turns it off).</summary>
    public bool UseSse { get; init; } = true;

    public int NumClasses { get; init; } = 1000;

    /// <summary>3 for RGB; 1 lets grey images (Fashion-MNIST) in without replication.</summary>
    public int InChannels { get; init; } = 3;

    /// <summary>Dropout before the classifier: 0 for S/M, 0.1 for L/XL, 0.2 in the CIFAR recipe.</summary>
    public double HeadDropout { get; init; }

    /// <summary>Dropout after every block (the CIFAR recipe's "dropout in the convolutions", 0.2).</summary>
    public double BlockDropout { get; init; }

    [JsonIgnore] public int Streams => Planes.Length;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first wrong value; returns this config.</summary>
    public ModelConfig Validate()
    {
        // the name heads every message and the headers of train, eval and bench: empty or with a line break it garbled them
        if (string.IsNullOrWhiteSpace(Name) || Name.Any(char.IsControl))
            throw new ArgumentException($"the model's Name must be a non-empty line of text; got {System.Text.Json.JsonSerializer.Serialize(Name)}");
        if (Planes is null || Planes.Length is < 1 or > 4)
            throw new ArgumentException($"{Name}: Planes must list 1 to 4 stream widths (Table 10 studies 1-4 streams); got {Planes?.Length ?? 0}");
        if (Planes.Any(p => p < 1))
            throw new ArgumentException($"{Name}: every entry of Planes must be positive; got [{string.Join(",", Planes)}]");
        if (FinalWidth < 1) throw new ArgumentException($"{Name}: FinalWidth must be positive; got {FinalWidth}");
        if (BlocksPerStream is null || BlocksPerStream.Length != Planes.Length)
            throw new ArgumentException($"{Name}: BlocksPerStream must have one entry per stream ({Planes.Length}); got {BlocksPerStream?.Length ?? 0}");
        if (BlocksPerStream.Any(b => b < (BlockType == BlockType.ResNetBasic ? 1 : 0)))
            throw new ArgumentException($"{Name}: BlocksPerStream entries must be >= {(BlockType == BlockType.ResNetBasic ? 1 : 0)}; got [{string.Join(",", BlocksPerStream)}]");
        if (BlockType == BlockType.ResNetBasic && FinalWidth != Planes[^1])
            throw new ArgumentException($"{Name}: a ResNet's FinalWidth is its last stage width ({Planes[^1]}); got {FinalWidth}");
        // ParNet's merges concatenate two paths into a conv with 2 groups (the released Concat2d): every width one of them
        // outputs (streams 2 and later, and the last stream, whose merge keeps its width) must split in two
        if (BlockType == BlockType.RepVggSse)
            for (int i = 1; i < Planes.Length; i++)
                if ((i >= 2 || i == Planes.Length - 1) && Planes[i] % 2 != 0)
                    throw new ArgumentException($"{Name}: Planes[{i}] must be even (the stream merge feeding or leaving it is a conv " +
                                                $"with 2 groups); got [{string.Join(",", Planes)}]");
        if (NumClasses < 1) throw new ArgumentException($"{Name}: NumClasses must be positive; got {NumClasses}");
        if (InChannels < 1) throw new ArgumentException($"{Name}: InChannels must be positive; got {InChannels}");
        // written as what holds, so that NaN (which no comparison holds for) is refused too
        if (!(HeadDropout >= 0 && HeadDropout < 1)) throw new ArgumentException($"{Name}: HeadDropout must be in [0, 1); got {HeadDropout}");
        if (!(BlockDropout >= 0 && BlockDropout < 1)) throw new ArgumentException($"{Name}: BlockDropout must be in [0, 1); got {BlockDropout}");
        if (!Enum.IsDefined(Activation)) throw new ArgumentException($"{Name}: unknown Activation {Activation}");
        if (!Enum.IsDefined(Layout)) throw new ArgumentException($"{Name}: unknown Layout {Layout}");
        if (!Enum.IsDefined(BlockType)) throw new ArgumentException($"{Name}: unknown BlockType {BlockType}");
        double parameters = MinimumParameterCount(), bytes = parameters * sizeof(float);
        long available = ParNet.Runtime.MachineMemory.AvailableBytes;
        if (bytes > available)
            throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{Name}: at least {parameters:N0} parameters, {ParNet.Runtime.MachineMemory.GiB(bytes)} of float32 weights alone (training needs ~4x: " +
                $"gradients, momentum, a copy), more than the {ParNet.Runtime.MachineMemory.GiB(available)} of memory here"));
        return this;
    }

    /// <summary>
    /// A lower bound on the parameter count, from the configuration alone (nothing allocated): the 3x3 kernels of each
    /// stream's non-downsampling blocks and the classifier. In floating point, so that absurd widths cannot overflow.
    /// </summary>
    public double MinimumParameterCount()
    {
        double count = (double)FinalWidth * NumClasses;
        for (int i = 0; i < Planes.Length; i++) count += Math.Max(0, BlocksPerStream[i] - 1) * 9.0 * Planes[i] * Planes[i];
        return count;
    }

    /// <summary>The largest input side taken: far beyond any image (a 64-megapixel one is 8192 wide), and small enough
    /// that a trace's multiply-add counts fit a long.</summary>
    public const int MaxImageSide = 65536;

    /// <summary>Side of the input must be a multiple of this: every stride-2 block halves an even size.</summary>
    [JsonIgnore]
    public int InputSizeMultiple => 1 << StrideTwoStages;

    /// <summary>Throws <see cref="ArgumentException"/> for an input size this model cannot take.</summary>
    public void CheckImageSize(long height, long width)
    {
        int m = InputSizeMultiple;
        if (height < m || width < m || height % m != 0 || width % m != 0)
            throw new ArgumentException($"{Name}: image height and width must be positive multiples of {m} " +
                                        $"(every stride-2 block needs an even size); got {height}x{width}");
        if (height > MaxImageSide || width > MaxImageSide)
            throw new ArgumentException($"{Name}: image height and width must be at most {MaxImageSide}; got {height}x{width}");
    }

    int StrideTwoStages => (BlockType, Layout) switch
    {
        // stem (2 blocks), one per later stream, the wide downsampling at depth 11
        (BlockType.RepVggSse, Layout.ImageNet) => 2 + (Planes.Length - 1) + 1,
        // the added block at depth 3, one per later stream; the final 1x1 conv keeps the size
        (BlockType.RepVggSse, Layout.Cifar) => 1 + (Planes.Length - 1),
        // stride-2 stem conv and max-pool, then one per later stage
        (BlockType.ResNetBasic, Layout.ImageNet) => 2 + (Planes.Length - 1),
        _ => Planes.Length - 1,
    };

    /// <summary>The natural input side: 224 for ImageNet layouts, 32 for CIFAR, rounded up to a side the model takes (a
    /// 4-stream ImageNet-layout network halves its maps six times: 256; its default of 224 was refused by the model itself,
    /// blaming an --image-size nobody gave: audit of session 36).</summary>
    [JsonIgnore]
    public int DefaultImageSize => (Layout == Layout.ImageNet ? 224 : 32) is var side && side % InputSizeMultiple == 0
        ? side : (side / InputSizeMultiple + 1) * InputSizeMultiple;

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        PropertyNameCaseInsensitive = true,   // hand-written configs say "planes" as often as "Planes"
    };

    /// <summary>This CIFAR-layout network at width <paramref name="width"/>: planes [w, 2w, 4w], final width 4w, named
    /// NAME_wW (the recipes' width, `--width`). ArgumentException for another layout or a width below 1.</summary>
    public ModelConfig WithCifarWidth(int width)
    {
        if (Layout != Layout.Cifar) throw new ArgumentException($"{Name}: a width applies to CIFAR-layout models (planes [W, 2W, 4W])");
        if (width < 1) throw new ArgumentException($"{Name}: the width must be positive; got {width}");
        return this with { Name = $"{Name}_w{width}", Planes = [width, 2 * width, 4 * width], FinalWidth = 4 * width };
    }

    /// <summary>This configuration with arrays of its own: a record copy (<c>with</c>) shares <see cref="Planes"/> and
    /// <see cref="BlocksPerStream"/>, so that writing into one changed every configuration made from the same record.</summary>
    internal ModelConfig Detached() => this with { Planes = [.. Planes], BlocksPerStream = [.. BlocksPerStream] };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static ModelConfig FromJson(string json) =>
        (JsonSerializer.Deserialize<ModelConfig>(json, Json) ?? throw new InvalidDataException("empty model configuration")).Validate();

    /// <summary>Largest configuration file read: 1 MiB, thousands of times a real one (a few hundred bytes).</summary>
    public const long MaxFileBytes = 1024 * 1024;

    /// <summary>A configuration file: our JSON, or the authors' YAML model files (<see cref="AuthorsYamlConfig"/>) by extension.</summary>
    public static ModelConfig Load(string path)
    {
        // a folder was "not found", which sent the user looking for a file that is there
        if (Directory.Exists(path)) throw new FileNotFoundException($"model configuration {path} is a folder, not a file (a ModelConfig JSON or the authors' YAML file)", path);
        if (AuthorsYamlConfig.IsYamlPath(path)) return AuthorsYamlConfig.Load(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"model configuration not found: {path}", path);
        try { return FromJson(BoundedFile.ReadAllText(path, MaxFileBytes, "model configuration")); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a valid model configuration ({e.Message})", e); }
    }
}
