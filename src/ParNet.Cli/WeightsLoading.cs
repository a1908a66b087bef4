using ParNet.Export;
using ParNet.Models;
using ParNet.Weights;

namespace ParNet.Cli;

/// <summary>`--weights` of every command: the library's one loader (<see cref="ClassifierLoader"/>), its refusals made user errors.</summary>
public static class WeightsLoading
{
    public const string Description =
        "trained or fused weights (.safetensors, .pt, or a timm training checkpoint .pth.tar as the authors released them; " +
        "released key names), recognized by their keys";

    public const string FusedDescription = "re-parameterize trained ParNet weights after loading (fused weights stay fused)";

    /// <summary>The `--out` of commands that write weights (fuse, convert): safetensors only.</summary>
    public static void RequireSafetensorsOut(string output)
    {
        if (!output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"--out must be a .safetensors file; got '{output}'");
    }

    /// <summary>`--ema` of the commands that take --weights.</summary>
    public static System.CommandLine.Option<bool> EmaOption() => CliOption.Switch("--ema",
        "read a training checkpoint's EMA weights (timm's state_dict_ema, as the authors' validate.py --use-ema); default: its state_dict");

    public static CheckpointWeights Pick(bool ema) => ema ? CheckpointWeights.Ema : CheckpointWeights.Model;

    /// <summary>Loads <paramref name="path"/>; --fused on a network without a fused form is the user's error.</summary>
    public static ClassifierLoader.Loaded Load(string path, ModelConfig? config, bool fuse, bool ema = false) =>
        Load(path, config, fuse ? NetworkForm.Fused : NetworkForm.AsStored, ema);

    /// <summary>Loads <paramref name="path"/> in <paramref name="form"/>; --fused on a network without a fused form is the user's error.</summary>
    public static ClassifierLoader.Loaded Load(string path, ModelConfig? config, NetworkForm form, bool ema = false)
    {
        try { return ClassifierLoader.LoadWeights(path, config, form, Pick(ema)); }
        catch (NotSupportedException e) when (form == NetworkForm.Fused) { throw new UsageException($"--fused: {e.Message}"); }
    }

    /// <summary>The warning of commands that run an untrained model when no --weights is given.</summary>
    public static void WarnRandomInitialization(TextWriter stderr, string command, ModelConfig config) =>
        stderr.WriteLine($"parnet {command}: warning: no --weights; using a random initialization of {config.Name} " +
                         $"(seed {ClassifierLoader.RandomInitializationSeed}): its outputs are meaningless, its size and speed are not");
}
