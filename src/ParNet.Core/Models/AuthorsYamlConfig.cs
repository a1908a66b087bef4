using ParNet.Runtime;
using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ParNet.Models;

/// <summary>
/// The authors' YAML model files (imagenet/models/*.yaml of github.com/imankgoyal/NonDeepNetworks, named by a released
/// checkpoint's args.model_cfg), read as their SimpNet builds them:
///  - planes: the stream widths, then the width of the final block (our <see cref="ModelConfig.FinalWidth"/>);
///  - num_blocks: per stream the blocks counting the stream's downsampling block (ours: one fewer), then 1 (the final
///    block; their code asserts it, and that the last stream has more than 1: an earlier stream of 1 is its
///    downsampling block alone, as <see cref="ModelConfig.BlocksPerStream"/> 0 is in a JSON configuration);
///  - dropout_lin: the classifier's dropout (<see cref="ModelConfig.HeadDropout"/>);
///  - additional_branches: SiLU when it holds the string "swish" itself, else ReLU. Their released files write
///    <c>[[swish]]</c>, a list holding a list, and their test <c>'swish' in additional_branches</c> is false for that:
///    the released configurations build ReLU networks (parnet-spec.md), and so does this reader.
///  - weights, use_ema: where their multi-GPU wrapper finds a checkpoint; not part of the network, ignored.
/// Always the ImageNet layout with 1000 classes and RGB input, as their SimpNet hard-codes. Any other key is an error.
/// </summary>
public static class AuthorsYamlConfig
{
    static readonly HashSet<string> Ignored = ["weights", "use_ema"];

    public static bool IsYamlPath(string path) =>
        path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase);

    /// <summary>Reads <paramref name="path"/>; InvalidDataException naming the file and the key on any problem.</summary>
    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"model configuration not found: {path}", path);
        string yaml = BoundedFile.ReadAllText(path, ModelConfig.MaxFileBytes, "model configuration");   // its own message: not a YAML problem
        try { return Parse(yaml, Path.GetFileNameWithoutExtension(path)); }
        catch (Exception e) when (e is YamlException or InvalidDataException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: not one of the authors' model files ({e.Message})", e);
        }
    }

    public static ModelConfig Parse(string yaml, string name)
    {
        var stream = new YamlStream();
        // YamlDotNet 18.1 throws InvalidOperationException from its scanner on some malformed input (found by fuzzing),
        // where YamlException is its documented error: both mean the text is not YAML
        try { stream.Load(new StringReader(yaml)); }
        catch (InvalidOperationException e) { throw new InvalidDataException($"not valid YAML ({e.Message})", e); }
        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new InvalidDataException("expected one YAML mapping (planes, num_blocks, ...)");
        int[]? planes = null, blocks = null;
        double dropout = 0;
        bool swish = false;
        foreach (var (keyNode, value) in root.Children)
        {
            string key = keyNode is YamlScalarNode { Value: { } k } ? k : throw new InvalidDataException("every key must be a name");
            switch (key)
            {
                case "planes": planes = Ints(value, key); break;
                case "num_blocks": blocks = Ints(value, key); break;
                case "dropout_lin": dropout = Number(value, key); break;
                case "additional_branches":
                    swish = value is YamlSequenceNode list && list.Children.Any(c => c is YamlScalarNode { Value: "swish" });
                    break;
                default:
                    if (!Ignored.Contains(key))
                        throw new InvalidDataException($"unknown key '{key}' (known: planes, num_blocks, dropout_lin, additional_branches, weights, use_ema)");
                    break;
            }
        }
        if (planes is null || blocks is null) throw new InvalidDataException("planes and num_blocks are required");
        if (planes.Length is < 2 or > 5 || blocks.Length != planes.Length)
            throw new InvalidDataException($"planes ({planes.Length} entries) and num_blocks ({blocks.Length}) must list 1-4 streams and the final block");
        if (blocks[^1] != 1) throw new InvalidDataException($"num_blocks must end with 1 (the final block); got {blocks[^1]}");
        // as their SimpNet asserts: a stream of 1 (its downsampling block alone, no stream block) only before the last
        if (blocks[..^1].Any(b => b < 1) || blocks[^2] < 2)
            throw new InvalidDataException($"num_blocks [{string.Join(", ", blocks)}]: every stream needs 1 or more (its downsampling block), " +
                                           "the last stream 2 or more (its downsampling block and a stream block; their SimpNet asserts it)");
        return new ModelConfig
        {
            Name = name, Layout = Layout.ImageNet, NumClasses = 1000, InChannels = 3,
            Planes = planes[..^1], FinalWidth = planes[^1], BlocksPerStream = blocks[..^1].Select(b => b - 1).ToArray(),
            HeadDropout = dropout, Activation = swish ? ActivationKind.SiLU : ActivationKind.ReLU,
        }.Validate();
    }

    static int[] Ints(YamlNode node, string key) => node is YamlSequenceNode list
        ? list.Children.Select(c => (int)Number(c, key)).ToArray()
        : throw new InvalidDataException($"{key} must be a list of integers");

    static double Number(YamlNode node, string key) =>
        node is YamlScalarNode { Value: { } v } && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d)
            && (key == "dropout_lin" || (d == Math.Floor(d) && d is > 0 and <= int.MaxValue))
            ? d
            : throw new InvalidDataException($"{key}: '{(node as YamlScalarNode)?.Value ?? node.NodeType.ToString()}' is not a {(key == "dropout_lin" ? "number" : "positive integer")}");
}
