using System.CommandLine;
using ParNet.Data;
using ParNet.Export;
using ParNet.Export.Quantization;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Training;

namespace ParNet.Cli;

/// <summary>`parnet export`: a model with its weights (or a seeded random initialization) as a standard ONNX file.</summary>
public sealed class ExportCommand : CliCommand
{
    readonly ModelOptions _model = new();
    readonly Option<string?> _weights = CliOption.Text("--weights", WeightsLoading.Description + "; model config and class names also come " +
        "from a sidecar W.json, the safetensors metadata or a training checkpoint's state.json. Without it: a seeded random " +
        "initialization (a warning says so), to export a model before training it", "W");
    readonly Option<bool> _fused = WeightsLoading.FusedOption();
    readonly Option<bool> _unfused = WeightsLoading.UnfusedOption();
    readonly Option<bool> _ema = WeightsLoading.EmaOption();
    readonly Option<string> _format = new("--format")
    {
        Description = "onnx, the only format (default: onnx)", HelpName = "FORMAT",
    };
    readonly Option<string> _out = new("--out") { Description = "the ONNX file to write", HelpName = "M.onnx", Required = true };
    readonly Option<int?> _imageSize = CliOption.Int("--image-size",
        $"input side in pixels the graph is fixed to (default: {CliOption.StoredSide})", "PX");
    readonly Option<string?> _dataset = CliOption.Text("--dataset",
        $"class names and normalization to store: {WeightsLoading.DatasetChoices} (default: the stored ones)", "NAME");
    readonly Option<bool> _int8 = CliOption.Switch("--int8", "a statically quantized model (ONNX QDQ, run by ONNX Runtime's int8 kernels) of " +
        "the fused network (implies --fused): convs int8 with per-channel symmetric weights, activations uint8 calibrated on " +
        "--calibration N training images (min/max); the SSE gates and the head stay float32");
    readonly Option<int?> _calibration = CliOption.Int("--calibration", "required with --int8: the number of training images whose activation " +
        "ranges set the scales, chosen at random (seed 0: the same ones every time; not the first N, which in an image folder are all of its " +
        "first classes); a few hundred suffice");
    readonly Option<string?> _data = CliOption.Text("--data", "with --int8: where the calibration data set is (as for train; default: " +
        $"for a run's checkpoint without --dataset, the run's data; else as train looks: for fashion-mnist {DataLocations.LocalFashionMnist}, then {DataLocations.SystemFashionMnist})", "DIR");
    readonly Option<bool> _quantizeGates = CliOption.Switch("--quantize-gates", "with --int8: quantize the SSE gates' 1x1 convs too " +
        "(default off: no time saved on a 1x1 map, and their sigmoid scales whole feature maps)");
    readonly Option<int?> _threads = CliOption.Int("--threads", "threads of the work: loading and fusing (torch.set_num_threads) and, with " +
        "--int8, ONNX Runtime's calibration passes (default: all cores; calibration took every core whatever else ran)", "N");
    readonly Option<bool> _quantizeHead = CliOption.Switch("--quantize-head", "with --int8: quantize the classifier too (default off: " +
        "one small matrix product)");

    public override string Name => "export";
    public override string Summary => "write a model with its weights as ONNX (opset 17, dynamic batch)";
    protected override bool WritesAFile => true;

    protected override void Declare(Command command)
    {
        _model.AddTo(command);
        command.Add(_weights, _fused, _unfused, _ema, _format, _out, _imageSize, _dataset, _int8, _calibration, _data, _quantizeGates, _quantizeHead, _threads);
    }

    /// <summary>--int8 quantizes the fused network, and <paramref name="unfused"/> has none (a ResNet, loaded as it is): refused
    /// as --int8's, in the fuser's words (the loader, asked for the fused form, words it as --fused, which was never given).</summary>
    static UsageException Int8WithoutFusedForm(ModelConfig unfused)
    {
        try { ParNet.Fusion.ParNetFuser.RequireFusable(unfused); }
        catch (NotSupportedException e) { return new UsageException($"--int8 quantizes the fused network: {e.Message}"); }
        return new UsageException($"--int8 quantizes the fused network; {unfused.Name} was loaded unfused");
    }

    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        var config = _model.ReadOptional(parse);
        string? weights = parse.GetValue(_weights);
        string output = parse.GetValue(_out)!, format = parse.GetValue(_format) ?? "onnx";
        bool int8 = parse.GetValue(_int8);
        if (int8 && parse.GetValue(_unfused)) throw new UsageException("--int8 quantizes the fused network; --unfused goes without it");
        // --int8: fused where the network can be, and refused below where it cannot (as --int8's, not as a --fused not given)
        var form = int8 ? NetworkForm.FusedWhereFusable : WeightsLoading.InferenceForm(parse.GetValue(_fused), parse.GetValue(_unfused));
        int? calibration = parse.GetValue(_calibration);
        if (int8 && calibration is null)
            throw new UsageException("--int8 needs --calibration N: the number of training images to calibrate the activations on");
        CliOption.RequireAtLeastOne("--calibration", calibration, "images");
        if (!int8 && (calibration is not null || parse.Given(_data) || parse.GetValue(_quantizeGates) || parse.GetValue(_quantizeHead)))
            throw new UsageException("--calibration, --data, --quantize-gates and --quantize-head go with --int8");
        int threads = parse.GetValue(_threads) ?? Environment.ProcessorCount;
        CliOption.CheckThreads(threads, Name, stderr);
        TorchSharp.torch.set_num_threads(threads);
        int? size = parse.GetValue(_imageSize);
        string? dataset = parse.GetValue(_dataset);
        if (!format.Equals("onnx", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"--format {format}: not supported; the only export format is onnx");
        // `--out` naming the weights (or the config) replaced them with the graph, after loading them (bench/export audit, session 41)
        WeightsLoading.RequireExtension(output, ".onnx");
        WeightsLoading.RequireNotAnInput("--out", output, ("--weights", weights), ("--config", parse.GetValue(_model.Config)));

        ImageClassifier model;
        DeploymentInfo info;
        if (weights is not null)
        {
            var loaded = WeightsLoading.Load(weights, config, form, parse.GetValue(_ema));
            (model, info) = (loaded.Model, loaded.Info);
        }
        else (model, info) = WeightsLoading.RandomlyInitialized(config, form);
        if (int8 && info.Fused != true)
        {
            model.Dispose();
            throw Int8WithoutFusedForm(model.Config);
        }
        if (weights is null) WeightsLoading.WarnRandomInitialization(stderr, Name, model.Config);
        using (model)
        {
            if (dataset is not null) info = PredictorLoading.WithDataset(info, model.Config, dataset);
            int side = size ?? info.SideFor(model.Config) ?? model.Config.DefaultImageSize;
            UsageException.Wrap(() => model.CheckImageSize(side, side), "--image-size");
            // and the side its users' preprocessing can place the image at: a Fashion-MNIST graph at 24 px was written, then
            // refused by predict, eval and serve ("an odd margin"; sizes audit, session 38)
            UsageException.Wrap(() => new DeploymentPreprocessing(model.Config, info, side));
            string written = info.Fused == true ? "fused" : "training form";
            if (int8)
            {
                string calibrationSet = info.Dataset ?? throw new UsageException("--int8: no data set is stored with the weights; give --dataset NAME (and --data DIR) for the calibration images");
                // a run's checkpoint calibrates on the run's own data unless told otherwise (a folder data set has no standard place),
                // and on the classes it trained on: images of classes it never saw (`train --classes 1,3`), undecodable ones among
                // them, were read (cross-command audit, session 43); weights of some of a known data set's classes store their names
                var runOfFile = dataset is null && weights is not null ? RunSettings.OfCheckpointFile(weights) : null;
                string? data = RunDataFolder.Resolve(parse.GetValue(_data), runOfFile?.DataDirectory);
                IReadOnlyList<int>? classes = runOfFile?.Classes ?? DeploymentInfo.ClassIdsIn(calibrationSet, info.ClassNames, data);   // --data or not, as eval
                // any images like the deployment's serve to calibrate (a few ImageNet classes for an ImageNet model), but a folder
                // of none of the weights' classes was taken without a word, where eval refuses it (a data audit of session 47)
                if (classes is null && CalibrationClassesDiffer(calibrationSet, data, info.ClassNames) is { } folderClasses)
                    stderr.WriteLine($"parnet export: warning: calibrating on the classes of {Path.Combine(data!, "train")} ({Listed(folderClasses)}), not the " +
                                     $"{info.ClassNames!.Count} stored with the weights ({Listed(info.ClassNames)}): its images should look like those the model will see");
                var options = new Int8Options
                {
                    CalibrationImages = calibration!.Value, QuantizeGates = parse.GetValue(_quantizeGates), QuantizeHead = parse.GetValue(_quantizeHead),
                    CalibrationSource = new CalibrationSet(calibrationSet, DataLocations.FolderRead(calibrationSet, data), classes),
                };
                // opened as the exporter reads it, after its check that --out can be written: an image folder's files are listed then, not before
                IEnumerable<(float[] Data, long[] Shape)> Calibration()
                {
                    foreach (var image in UsageException.Wrap(() => Int8Exporter.CalibrationImages(calibrationSet, data, model.Config, side, options.CalibrationImages, classes), "--int8 calibration"))
                        yield return image;
                }
                Int8Exporter.Export(model, output, side, Calibration(), options, new OnnxExportOptions { Info = info }, intraOpThreads: threads);
                written += $", int8 QDQ calibrated on {options.CalibrationImages} {calibrationSet} training image{(options.CalibrationImages == 1 ? "" : "s")} chosen at random (seed 0); gates {(options.QuantizeGates ? "int8" : "float32")}, head {(options.QuantizeHead ? "int8" : "float32")}";
            }
            else OnnxExporter.Export(model, output, side, new OnnxExportOptions { Info = info });
            stdout.WriteLine($"exported {model.Config.Name} ({written}, " +
                             $"{model.Config.InChannels}x{side}x{side}, dynamic batch, opset {OnnxExporter.Opset}) to {output} " +
                             $"({new FileInfo(AtomicFile.FinalTarget(output)).Length / 1e6:F1} MB)");
            if (weights is not null) PredictorLoading.WarnIfStatisticsGuessed(info.StatisticsGuessed, model.Config, stderr, Name);   // what the file now stores
        }
        return 0;
    }
    /// <summary>The class names of a calibration folder's train/ where they are not the ones stored with the weights (none of
    /// the placeholders "class N"); null otherwise, or where the folder cannot be listed (the calibration itself says why).</summary>
    static IReadOnlyList<string>? CalibrationClassesDiffer(string dataset, string? data, IReadOnlyList<string>? stored)
    {
        if (!DataPipelines.IsFolderLayout(dataset) || data is null || stored is null || DatasetInfo.ArePlaceholders(stored)) return null;
        try
        {
            var folder = DataPipelines.FolderClassNames(data);
            return folder.SequenceEqual(stored, StringComparer.Ordinal) ? null : folder;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException) { return null; }
    }

    static string Listed(IReadOnlyList<string> names) => string.Join(", ", names.Take(5)) + (names.Count > 5 ? $", ... {names.Count - 5} more" : "");
}
