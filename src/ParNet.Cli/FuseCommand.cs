using System.CommandLine;
using ParNet.Analysis;
using ParNet.Fusion;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Weights;

namespace ParNet.Cli;

/// <summary>`parnet fuse`: trained weights in, re-parameterized (fused) inference weights out.</summary>
public sealed class FuseCommand : CliCommand
{
    readonly ModelOptions _model = new();
    readonly Option<string> _weights = new("--weights")
    {
        Description = WeightsLoading.Description + "; trained (unfused) ones: fused weights are refused", HelpName = "W", Required = true,
    };
    readonly Option<bool> _ema = WeightsLoading.EmaOption();
    readonly Option<string?> _dataset = WeightsLoading.StoredDatasetOption();
    readonly Option<string> _out = new("--out")
    {
        Description = "fused weights (BatchNorm running statistics folded in), safetensors: predict, serve, export, eval and forward load them (bench and train --pretrained need the trained form)", HelpName = "OUT.safetensors", Required = true,
    };

    public override string Name => "fuse";
    public override string Summary => "re-parameterize trained weights into the fused inference form";
    protected override bool WritesAFile => true;

    protected override void Declare(Command command)
    {
        _model.AddTo(command);
        command.Add(_weights, _ema, _dataset, _out);
    }

    static void RequireFusable(ModelConfig config)
    {
        try { ParNetFuser.RequireFusable(config); }
        catch (NotSupportedException e) { throw new UsageException(e.Message); }
    }

    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        var config = _model.ReadOptional(parse);
        string weights = parse.GetValue(_weights)!, output = parse.GetValue(_out)!;
        if (config is not null) RequireFusable(config);
        WeightsLoading.RequireSafetensorsOut(output);
        // the fused form cannot be trained, resumed or unfused: writing it over the trained weights loses them for good
        if (File.Exists(weights) && AtomicFile.FinalTarget(weights) == AtomicFile.FinalTarget(output))
            throw new UsageException($"--out {output} is the --weights file itself: fusing cannot be undone; write the fused weights to another file");

        var loaded = WeightsLoading.Load(weights, config, fuse: false, ema: parse.GetValue(_ema));
        using var trained = loaded.Model;
        if (loaded.FusedFile) throw new UsageException($"--weights {weights}: these weights are fused already");
        RequireFusable(trained.Config);
        var info = parse.GetValue(_dataset) is string dataset ? PredictorLoading.WithDataset(loaded.Info, trained.Config, dataset) : loaded.Info;
        using var fused = ParNetFuser.Fuse(trained);
        // the configuration, data set and class names travel in the file: every command loads it without --model/--config
        StateDict.Save(fused, output, (info with { Fused = true }).ToMetadata());
        WeightsLoading.WarnOfSidecar(output, stderr, Name);
        stdout.WriteLine($"fused {trained.Config.Name}{(parse.GetValue(_ema) ? " (EMA weights)" : "")}: {ModelSummary.CountTrainableParameters(trained):N0} -> " +
                         $"{ModelSummary.CountTrainableParameters(fused):N0} parameters; wrote {output}");
        return 0;
    }
}
