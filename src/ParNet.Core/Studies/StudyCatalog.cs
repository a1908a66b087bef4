using ParNet.Models;

namespace ParNet.Studies;

/// <summary>
/// The paper's studies (Tables 7-11, Figure 3) as grids over the fashion-mnist network (CIFAR layout, 3 streams of
/// widths 16/32/64, depth 12, 349,978 parameters): Fashion-MNIST is what this machine trains in minutes. Every network of
/// a study is depth 12 unless the study varies depth; where the paper compares at a fixed budget (Tables 8-10) the widths
/// are matched to the base network's parameter count within <see cref="ParameterMatching.Tolerance"/>.
/// </summary>
public static class StudyCatalog
{
    /// <summary>The base width: the fashion-mnist recipe's.</summary>
    const int BaseWidth = 16;

    public static IReadOnlyList<string> Names { get; } = ["sse-silu", "block-type", "ensemble", "streams", "depth", "scaling"];

    public static Study Get(string name) => name switch
    {
        "sse-silu" => SseSilu(),
        "block-type" => BlockTypes(),
        "ensemble" => Ensemble(),
        "streams" => Streams(),
        "depth" => Depth(),
        "scaling" => Scaling(),
        _ => throw new ArgumentException($"unknown study '{name}'; studies: {string.Join(", ", Names)}"),
    };

    /// <summary>A ParNet of the CIFAR layout for grey 32x32 images and 10 classes, <paramref name="streams"/> streams of
    /// widths w, 2w, 4w, ..., depth 12 (stream blocks 7 - s per stream, one fewer in the first, as the paper's [4,5,5]).</summary>
    public static ModelConfig ParNet(string name, double width, int streams = 3, int? blocksShift = null) => new()
    {
        Name = name,
        Layout = Layout.Cifar,
        Planes = Enumerable.Range(0, streams).Select(i => ParameterMatching.Even(width * (1 << i))).ToArray(),
        FinalWidth = ParameterMatching.Even(width * (1 << (streams - 1))),
        BlocksPerStream = Enumerable.Range(0, streams).Select(i => Math.Max(0, (streams == 1 ? 7 : 7 - streams - (i == 0 ? 1 : 0)) + (blocksShift ?? 0))).ToArray(),
        InChannels = 1,
        NumClasses = 10,
    };

    static ModelConfig Base() => ParNet("parnet-w16", BaseWidth);

    static long BaseParameters() => ParameterMatching.Count(Base());

    static ModelConfig Matched(Func<double, ModelConfig> family, long target) => ParameterMatching.Match(family, target).Config;

    static Study SseSilu() => new("sse-silu", "Table 7",
        "Skip-Squeeze-Excitation and SiLU, each added to the base network (same widths, so SSE adds its few parameters).",
        [
            new("no-sse-relu", Base() with { Name = "no-sse-relu", UseSse = false, Activation = ActivationKind.ReLU }),
            new("sse-relu", Base() with { Name = "sse-relu", Activation = ActivationKind.ReLU }),
            new("sse-silu", Base() with { Name = "sse-silu" }),
        ],
        [
            new("SSE raises top-1 (Table 7)", "sse-relu", "no-sse-relu"),
            new("SiLU raises top-1 over ReLU (Table 7)", "sse-silu", "sse-relu"),
        ]);

    static Study BlockTypes()
    {
        long target = BaseParameters();
        var resNet = Matched(m => new ModelConfig
        {
            Name = "resnet-1stream", BlockType = BlockType.ResNetBasic, Layout = Layout.Cifar,
            Planes = [ParameterMatching.Even(8 * m), ParameterMatching.Even(16 * m), ParameterMatching.Even(32 * m), ParameterMatching.Even(64 * m)],
            BlocksPerStream = [2, 1, 1, 1], FinalWidth = ParameterMatching.Even(64 * m), InChannels = 1, NumClasses = 10,
        }, target);
        var vgg1 = Matched(m => ParNet("vgg-1stream", BaseWidth * m, streams: 1), target);
        return new("block-type", "Table 8",
            "Depth 12 at one parameter budget: ResNet basic blocks in one stream, RepVGG-SSE blocks in one stream, and in three (the base network).",
            [new("resnet-1stream", resNet), new("vgg-1stream", vgg1), new("vgg-3streams", Base() with { Name = "vgg-3streams" })],
            [
                new("VGG-style (RepVGG-SSE) blocks beat ResNet blocks at depth 12 (Table 8)", "vgg-1stream", "resnet-1stream"),
                new("three streams beat one at the same budget (Table 8)", "vgg-3streams", "vgg-1stream"),
            ]);
    }

    static Study Ensemble()
    {
        long target = BaseParameters();
        var member = Matched(m => ParNet("single-stream", BaseWidth * m, streams: 1), target / 3);
        return new("ensemble", "Table 9",
            "One ParNet against an ensemble (softmax average) of three single-stream networks of a third of its parameters each.",
            [
                new("parnet", Base() with { Name = "parnet" }),
                new("single-1", member with { Name = "single-1" }) { SeedOffset = 100 },
                new("single-2", member with { Name = "single-2" }) { SeedOffset = 200 },
                new("single-3", member with { Name = "single-3" }) { SeedOffset = 300 },
                new("ensemble", member with { Name = "ensemble" }) { Members = ["single-1", "single-2", "single-3"] },
            ],
            [new("one ParNet beats an ensemble of single streams of the same total size (Table 9)", "parnet", "ensemble")]);
    }

    static Study Streams()
    {
        long target = BaseParameters();
        StudyCell Cell(int s) => new($"{s}-streams", s == 3 ? Base() with { Name = "3-streams" } : Matched(m => ParNet($"{s}-streams", BaseWidth * m, s), target))
            { X = s, Series = ["streams"] };
        return new("streams", "Table 10", "1 to 4 streams at the base network's parameter count, depth 12.",
            [Cell(1), Cell(2), Cell(3), Cell(4)],
            [
                new("three streams beat one at a fixed budget (Table 10)", "3-streams", "1-streams"),
                new("three streams beat two (Table 10)", "3-streams", "2-streams"),
                new("three streams beat four (Table 10)", "3-streams", "4-streams"),
            ]) { XLabel = "streams" };
    }

    static Study Depth() => new("depth", "Table 11",
        "Depth 9, 12 and 15 at the base widths (stream blocks 0/1/1, 3/4/4, 6/7/7); latency of the fused network at batch 1.",
        [
            new("depth-9", ParNet("depth-9", BaseWidth, blocksShift: -3)) { X = 9, Series = ["depth"] },
            new("depth-12", Base() with { Name = "depth-12" }) { X = 12, Series = ["depth"] },
            new("depth-15", ParNet("depth-15", BaseWidth, blocksShift: 3)) { X = 15, Series = ["depth"] },
        ],
        [
            new("depth 12 beats depth 9 (Table 11)", "depth-12", "depth-9"),
            new("depth 15 beats depth 12 (Table 11 reports the gain and its latency cost; the table here has both)", "depth-15", "depth-12"),
        ]) { XLabel = "depth" };

    static Study Scaling() => new("scaling", "Figure 3",
        "Depth 12 throughout: width 8/16/24 at three streams, 1/2/3 streams at width 16, and input side 16/32/48 px at width 16 " +
        "(not matched: scaling adds parameters or compute). Resolution: Fashion-MNIST's 28 px content resized to 14/28/42 px and " +
        "zero-padded to the side (the 48 px network sees the same 28 px detail upsampled, unlike ImageNet's larger images).",
        [
            new("w8", ParNet("w8", 8)) { X = 8, Series = ["width (3 streams)"] },
            new("w16", Base() with { Name = "w16" }) { X = 16, Series = ["width (3 streams)", "streams (width 16)", "resolution (width 16)"] },
            new("w24", ParNet("w24", 24)) { X = 24, Series = ["width (3 streams)"] },
            new("s1", ParNet("s1", BaseWidth, 1)) { X = 1, Series = ["streams (width 16)"] },
            new("s2", ParNet("s2", BaseWidth, 2)) { X = 2, Series = ["streams (width 16)"] },
            new("r16", Base() with { Name = "r16" }) { X = 16, Series = ["resolution (width 16)"], ImageSize = 16 },
            new("r48", Base() with { Name = "r48" }) { X = 48, Series = ["resolution (width 16)"], ImageSize = 48 },
        ],
        [
            new("accuracy rises with width, 8 to 16 (Figure 3)", "w16", "w8"),
            new("accuracy rises with width, 16 to 24 (Figure 3)", "w24", "w16"),
            new("accuracy rises with streams, 1 to 2 (Figure 3)", "s2", "s1"),
            new("accuracy rises with streams, 2 to 3 (Figure 3)", "w16", "s2"),
            new("accuracy rises with resolution, 16 to 32 px (Figure 3)", "w16", "r16"),
            new("accuracy rises with resolution, 32 to 48 px (Figure 3)", "r48", "w16"),
        ]) { XLabel = "MFLOPs per image", XIsFlops = true };
}
