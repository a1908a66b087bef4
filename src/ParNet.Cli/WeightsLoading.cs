using ParNet.Export;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Training;
using ParNet.Weights;
using System.CommandLine;

namespace ParNet.Cli;

/// <summary>`--weights` of every command: the library's one loader (<see cref="ClassifierLoader"/>), its refusals made user errors.</summary>
public static class WeightsLoading
{
    public const string Description =
        "trained or fused weights (.safetensors, .pt/.pth, or a timm training checkpoint .pth.tar as the authors released them; " +
        "released key names), recognized by their keys";

    public const string FusedDescription = "re-parameterize trained ParNet weights after loading (fused weights stay fused)";

    /// <summary>`--fused` of the commands that run or write a network for inference (predict, serve, export), which fuse a ParNet
    /// by default: given, a network that has no fused form is refused instead of taken as it is.</summary>
    public static Option<bool> FusedOption() => CliOption.Switch("--fused", "require the fused form (the default for a ParNet): a network without one " +
        "(resnet12_wide) is refused instead of run unfused");

    /// <summary>`--unfused` of predict, serve and export.</summary>
    public static Option<bool> UnfusedOption() => CliOption.Switch("--unfused",
        "run a ParNet in its training form instead of the default fused one (the same answers within float32 rounding; fused is 1.28-1.42x faster, " +
        "ParNet-S at batch 1 on a Zen 4, RESULTS.md); refused for fused weights and for an .onnx");

    /// <summary>The form predict, serve and export give a network: fused where it can be, unless --fused or --unfused says otherwise.</summary>
    public static NetworkForm InferenceForm(bool fused, bool unfused) => (fused, unfused) switch
    {
        (true, true) => throw new UsageException("--fused and --unfused: give one of them (a ParNet is fused by default)"),
        (true, false) => NetworkForm.Fused,
        (false, true) => NetworkForm.Training,
        _ => NetworkForm.FusedWhereFusable,
    };

    /// <summary>The `--out` of commands that write weights (fuse, convert, forward): safetensors only, and not a file of a
    /// training checkpoint (<see cref="Checkpoint.FileOf"/>), which the run needs to resume and be evaluated.</summary>
    public static void RequireSafetensorsOut(string output, string option = "--out")
    {
        RequireExtension(output, ".safetensors", option);
        if (Checkpoint.FileOf(output) is var (directory, name))
        {
            string holds = name switch
            {
                Checkpoint.WeightsFile => "its model weights", Checkpoint.EmaFile => "its EMA weights",
                Checkpoint.OptimizerFile => "its optimizer state", _ => "its training state",
            };
            throw new UsageException($"{option} {output} is a file of the training checkpoint {directory} ({holds}), which writing it would " +
                                     "replace: the run could no longer resume from it; give another path");
        }
    }

    /// <summary>An output named for what the command writes (".safetensors", ".onnx"), whatever else the name says.</summary>
    public static void RequireExtension(string output, string extension, string option = "--out")
    {
        if (!output.EndsWith(extension, StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"{option} must be {("aeiou".Contains(extension[1]) ? "an" : "a")} {extension} file; got '{output}'");
    }

    /// <summary>An output path that names one of the command's input files (say `--output` given the weights' path) would
    /// replace that file: refused before anything is read.</summary>
    public static void RequireNotAnInput(string outputOption, string output, params (string Option, string? Path)[] inputs)
    {
        foreach (var (option, path) in inputs)
            // the files links lead to: a link to the weights is the weights (review, session 29); an input not given: none
            if (path is not null && string.Equals(AtomicFile.FinalTarget(output), AtomicFile.FinalTarget(path), StringComparison.Ordinal))
                throw new UsageException($"{outputOption} {output} is the {option} file, which writing it would replace; give another path");
    }

    /// <summary>The data sets `--dataset` of predict, serve and export names: the known ones, or a folder's (whose class names
    /// only the weights hold).</summary>
    public static string DatasetChoices { get; } =
        CliOption.OneOf([.. DeploymentInfo.KnownDatasetNames, "folder (the class names stored with the weights)"]);

    /// <summary>`--dataset` of the commands that write weights (convert, fuse): the data set whose class names and normalization
    /// the file then carries.</summary>
    public static System.CommandLine.Option<string?> StoredDatasetOption() => CliOption.Text("--dataset",
        $"class names and normalization to store, as export's: {DatasetChoices} (default: the stored ones; the authors' " +
        "released checkpoints store none, and predict and serve then need --dataset at every start)", "NAME");

    /// <summary>`--ema` of the commands that take --weights.</summary>
    public static System.CommandLine.Option<bool> EmaOption() => CliOption.Switch("--ema",
        "read a checkpoint's EMA weights: a timm .pth.tar's state_dict_ema (as the authors' validate.py --use-ema), a torchvision " +
        "reference script's model_ema, or the " +
        "ema.safetensors beside a run checkpoint's model.safetensors; not for an .onnx (default: its model weights; eval --run takes the EMA " +
        "weights by default where the run trained with EMA)");

    public static CheckpointWeights Pick(bool ema) => ema ? CheckpointWeights.Ema : CheckpointWeights.Model;

    /// <summary>Warns of a sidecar (OUT.json) beside a weights file just written: every command reads it before the file's own
    /// metadata, so a stale one named another model or classes for the new file without a word (an audit of session 47).</summary>
    public static void WarnOfSidecar(string written, TextWriter stderr, string command)
    {
        if (Export.DeploymentInfo.SidecarCandidates(written).FirstOrDefault(File.Exists) is { } sidecar)
            stderr.WriteLine($"parnet {command}: warning: {sidecar} beside the file written is read before what the file stores (a sidecar comes " +
                             "first): move it away unless it describes these weights");
    }

    /// <summary>Loads <paramref name="path"/>; --fused on a network without a fused form is the user's error.</summary>
    public static ClassifierLoader.Loaded Load(string path, ModelConfig? config, bool fuse, bool ema = false) =>
        Load(path, config, fuse ? NetworkForm.Fused : NetworkForm.AsStored, ema);

    /// <summary>Loads <paramref name="path"/> in <paramref name="form"/>; --fused on a network without a fused form, or no model
    /// given for weights that store none, is the user's error.</summary>
    public static ClassifierLoader.Loaded Load(string path, ModelConfig? config, NetworkForm form, bool ema = false) =>
        UsageException.WrapSettings(() => ClassifierLoader.LoadWeights(path, config, form, Pick(ema)));

    /// <summary>
    /// <paramref name="config"/> randomly initialized (export, serve: a model before training it) in <paramref name="form"/>;
    /// no model named, or --fused on a network without a fused form, is the user's error.
    /// </summary>
    public static (ImageClassifier Model, DeploymentInfo Info) RandomlyInitialized(ModelConfig? config, NetworkForm form)
    {
        if (config is null) throw new UsageException("without --weights, give --model NAME or --config FILE.json (the model to initialize randomly)");
        return UsageException.WrapSettings(() => ClassifierLoader.RandomlyInitialized(config, form));
    }

    /// <summary>The warning of commands that run an untrained model when no --weights is given.</summary>
    public static void WarnRandomInitialization(TextWriter stderr, string command, ModelConfig config) =>
        stderr.WriteLine($"parnet {command}: warning: no --weights; using a random initialization of {config.Name} " +
                         $"(seed {ClassifierLoader.RandomInitializationSeed}): its outputs are meaningless, its size and speed are not");
}
