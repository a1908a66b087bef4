using System.CommandLine;
using System.Text.Json;
using ParNet.Analysis;
using ParNet.Models;

namespace ParNet.Cli;

/// <summary>`parnet info`: parameters, GFLOPs, depth and stage shapes, all computed from the model.</summary>
public sealed class InfoCommand : CliCommand
{
    readonly ModelOptions _model = new();
    readonly Option<int?> _imageSize = CliOption.Int("--image-size", $"input side in pixels (default: {CliOption.NaturalSide})", "PX");
    readonly Option<bool> _json = CliOption.Switch("--json", "machine-readable output");

    public override string Name => "info";
    public override string Summary => "parameters, GFLOPs, depth and stage shapes of a model";

    protected override void Declare(Command command)
    {
        _model.AddTo(command);
        command.Add(_imageSize, _json);
    }

    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        var config = _model.Read(parse);
        int size = parse.GetValue(_imageSize) ?? config.DefaultImageSize;
        bool json = parse.GetValue(_json);
        UsageException.Wrap(() => config.CheckImageSize(size, size), "--image-size");

        using var model = ModelFactory.Create(config);
        var summary = ModelSummary.OfBothForms(model, size);
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(new
            {
                name = summary.Name,
                image_size = size,
                parameters = summary.TrainableParameters,
                multiply_adds = summary.MultiplyAdds,
                gflops = summary.GFlops,
                fused = summary.Fused is { } fs ? new { parameters = fs.TrainableParameters, multiply_adds = fs.MultiplyAdds, gflops = fs.GFlops, depth = fs.Depth } : null,
                depth = summary.Depth,
                stages = summary.Stages.Select(s => new { stage = s.Stage, shape = s.Shape }),
                config = JsonDocument.Parse(config.ToJson()).RootElement,
            }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }

        stdout.WriteLine($"model        {summary.Name}");
        stdout.WriteLine($"input        {config.InChannels}x{size}x{size}");
        stdout.WriteLine($"parameters   {summary.TrainableParameters:N0} training form, " +
                         (summary.Fused is { } f ? $"{f.TrainableParameters:N0} fused" : "no fused form (fusion applies to ParNets)"));
        stdout.WriteLine($"GFLOPs       {summary.GFlops:F2} training form" +
                         (summary.Fused is { } g ? $", {g.GFlops:F2} fused (the paper's FLOPs: 2 x multiply-adds of the fused model)" : " (2 x multiply-adds)"));
        stdout.WriteLine($"depth        {summary.Depth} (conv/linear layers on the longest path)");
        stdout.WriteLine("stages");
        foreach (var (stage, shape) in summary.Stages)
            stdout.WriteLine($"  {stage,-16} [{string.Join(", ", shape)}]");
        return 0;
    }
}
