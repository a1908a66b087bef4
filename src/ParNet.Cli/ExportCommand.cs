using System.CommandLine;
using ParNet.Export;
using ParNet.Models;

namespace ParNet.Cli;

/// <summary>`parnet export`: a model with its weights (or a seeded random initialization) as a standard ONNX file.</summary>
public sealed class ExportCommand : CliCommand
{
    readonly ModelOptions _model = new();
    readonly Option<string?> _weights = CliOption.Text("--weights", WeightsLoading.Description + "; model config and class names also come " +
        "from a sidecar W.json, the safetensors metadata or a training checkpoint's state.json. Without it: a seeded random " +
        "initialization (a warning says so), to export a model before training it", "W");
    readonly Option<bool> _fused = CliOption.Switch("--fused", WeightsLoading.FusedDescription);
    readonly Option<bool> _ema = WeightsLoading.EmaOption();
    readonly Option<string> _format = new("--format")
    {
        Description = "onnx, the only format (default onnx)", HelpName = "FORMAT", DefaultValueFactory = _ => "onnx",
    };
    readonly Option<string> _out = new("--out") { Description = "the ONNX file to write", HelpName = "M.onnx", Required = true };
    readonly Option<int?> _imageSize = CliOption.Int("--image-size",
        "input side the graph is fixed to (default: the stored one, else 224 for ImageNet layouts, 32 for CIFAR)");
    readonly Option<string?> _dataset = CliOption.Text("--dataset",
        "class names and normalization to store: fashion-mnist, mnist, cifar10, cifar100, imagenet (default: the stored ones)", "NAME");

    public override string Name => "export";
    public override string Summary => "write a model with its weights as ONNX (opset 17, dynamic batch)";

    protected override void Declare(Command command)
    {
        _model.AddTo(command);
        command.Add(_weights, _fused, _ema, _format, _out, _imageSize, _dataset);
    }

    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        var config = _model.ReadOptional(parse);
        string? weights = parse.GetValue(_weights);
        string output = parse.GetValue(_out)!, format = parse.GetValue(_format)!;
        bool fuse = parse.GetValue(_fused);
        int? size = parse.GetValue(_imageSize);
        string? dataset = parse.GetValue(_dataset);
        if (!format.Equals("onnx", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"--format {format}: not supported; the only export format is onnx");
        if (dataset is not null && DeploymentInfo.KnownDataset(dataset) is null && dataset is not ("imagenet" or "folder"))
            throw new UsageException($"--dataset {dataset}: unknown; known: fashion-mnist, mnist, cifar10, cifar100, imagenet");

        ImageClassifier model;
        DeploymentInfo info;
        if (weights is not null)
        {
            var loaded = WeightsLoading.Load(weights, config, fuse, parse.GetValue(_ema));
            (model, info) = (loaded.Model, loaded.Info);
        }
        else
        {
            if (config is null) throw new UsageException("without --weights, give --model NAME or --config FILE.json (the model to initialize randomly)");
            if (fuse && config.BlockType != BlockType.RepVggSse)
                throw new UsageException($"--fused: {config.Name}: only ParNet (RepVGG-SSE) models can be fused; this one is {config.BlockType}");
            WeightsLoading.WarnRandomInitialization(stderr, Name, config);
            (model, info) = ClassifierLoader.RandomlyInitialized(config, fuse);
        }
        using (model)
        {
            if (dataset is not null) info = (info with { Dataset = dataset, ClassNames = null, Mean = null, Std = null }).Completed();
            int side = size ?? info.ImageSize ?? model.Config.DefaultImageSize;
            UsageException.Wrap(() => model.CheckImageSize(side, side), "--image-size");
            OnnxExporter.Export(model, output, side, new OnnxExportOptions { Info = info });
            stdout.WriteLine($"exported {model.Config.Name} ({(info.Fused == true ? "fused" : "training form")}, " +
                             $"{model.Config.InChannels}x{side}x{side}, dynamic batch, opset {OnnxExporter.Opset}) to {output} " +
                             $"({new FileInfo(output).Length / 1e6:F1} MB)");
        }
        return 0;
    }
}
