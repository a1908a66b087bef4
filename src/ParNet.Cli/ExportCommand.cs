using ParNet.Export;
using ParNet.Models;

namespace ParNet.Cli;

/// <summary>`parnet export`: a model with its weights as a standard ONNX file.</summary>
public sealed class ExportCommand : ICommand
{
    public string Name => "export";
    public string Summary => "write a model with its weights as ONNX (opset 17, dynamic batch)";
    public string Usage => $"""
        usage: parnet export [{ModelOptions.Usage}] --weights W.safetensors|W.pt [--fused] [--format onnx] --out M.onnx [--image-size N] [--dataset NAME]
          --weights      trained or fused weights; model config and class names also come from a sidecar W.json,
                         the safetensors metadata or a training checkpoint's state.json when present
          --model/--config  required unless stored with the weights
          --fused        re-parameterize trained ParNet weights first (a fused weights file is exported fused anyway)
          --format       onnx (the only format)
          --image-size N input side the graph is fixed to (default: 224 ImageNet layouts, 32 CIFAR, or the stored one)
          --dataset NAME class names and normalization to store (fashion-mnist, mnist, cifar10, cifar100, imagenet)
        """;

    public int Run(CliArgs args, TextWriter stdout)
    {
        ModelConfig? config = args.Has("model") || args.Has("config") ? ModelOptions.Read(args) : null;
        string weights = args.Required("weights");
        string output = args.Required("out");
        bool fuse = args.Flag("fused");
        string format = args.String("format") ?? "onnx";
        int? size = args.Int("image-size");
        string? dataset = args.String("dataset");
        args.ThrowIfUnused();
        if (!format.Equals("onnx", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"--format {format}: not supported; the only export format is onnx");
        if (dataset is not null && DeploymentInfo.KnownDataset(dataset) is null && dataset is not ("imagenet" or "folder"))
            throw new UsageException($"--dataset {dataset}: unknown; known: fashion-mnist, mnist, cifar10, cifar100, imagenet");

        var (model, info) = ClassifierLoader.Load(weights, config, fuse);
        using (model)
        {
            if (dataset is not null) info = (info with { Dataset = dataset, ClassNames = null, Mean = null, Std = null }).Completed();
            int side = size ?? info.ImageSize ?? model.Config.DefaultImageSize;
            model.CheckImageSize(side, side);
            OnnxExporter.Export(model, output, side, new OnnxExportOptions { Info = info });
            stdout.WriteLine($"exported {model.Config.Name} ({(info.Fused == true ? "fused" : "training form")}, " +
                             $"{model.Config.InChannels}x{side}x{side}, dynamic batch, opset {OnnxExporter.Opset}) to {output} " +
                             $"({new FileInfo(output).Length / 1e6:F1} MB)");
        }
        return 0;
    }
}
