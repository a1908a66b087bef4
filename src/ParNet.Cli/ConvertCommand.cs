using System.CommandLine;
using ParNet.Models;
using ParNet.Analysis;
using ParNet.Weights;

namespace ParNet.Cli;

/// <summary>`parnet convert`: any weights the loader reads (a released timm .pth.tar above all) to plain safetensors,
/// with the configuration in the file's metadata.</summary>
public sealed class ConvertCommand : CliCommand
{
    readonly ModelOptions _model = new();
    readonly Option<string> _weights = new("--weights") { Description = WeightsLoading.Description, HelpName = "W", Required = true };
    readonly Option<bool> _ema = WeightsLoading.EmaOption();
    readonly Option<string?> _dataset = WeightsLoading.StoredDatasetOption();
    readonly Option<string> _out = new("--out")
    {
        Description = "plain safetensors (the released key names) with the model configuration in its metadata", HelpName = "OUT.safetensors", Required = true,
    };

    public override string Name => "convert";
    public override string Summary => "convert weights (e.g. the authors' released .pth.tar checkpoints) to safetensors carrying their configuration";
    protected override bool WritesAFile => true;

    protected override void Declare(Command command)
    {
        _model.AddTo(command);
        command.Add(_weights, _ema, _dataset, _out);
    }

    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        var config = _model.ReadOptional(parse);
        string weights = parse.GetValue(_weights)!, output = parse.GetValue(_out)!;
        WeightsLoading.RequireSafetensorsOut(output);
        // `--out` on its own --weights replaced them (with --ema, the model weights with the EMA ones), exit 0 (review, session 41)
        WeightsLoading.RequireNotAnInput("--out", output, ("--weights", weights), ("--config", parse.GetValue(_model.Config)));
        // loaded strictly into the model first: a file that does not fit the configuration is refused, nothing written
        var loaded = WeightsLoading.Load(weights, config, fuse: false, ema: parse.GetValue(_ema));
        using var model = loaded.Model;
        var info = parse.GetValue(_dataset) is string dataset ? PredictorLoading.WithDataset(loaded.Info, model.Config, dataset) : loaded.Info;
        StateDict.Save(model, output, info.ToMetadata());
        WeightsLoading.WarnOfSidecar(output, stderr, Name);
        stdout.WriteLine($"converted {model.Config.Name} ({ModelSummary.CountTrainableParameters(model):N0} parameters" +
                         $"{(parse.GetValue(_ema) ? ", EMA weights" : "")}{(loaded.FusedFile ? ", fused" : "")}" +
                         // the authors' YAML file the checkpoint names, found beside it: said, as it decides the network
                         $"{(config is null && loaded.Info.ModelSource is { } yaml && AuthorsYamlConfig.IsYamlPath(yaml) ? $", the model of {yaml}" : "")}); wrote {output}");
        return 0;
    }
}
