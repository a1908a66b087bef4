using ParNet.Analysis;
using ParNet.Fusion;
using ParNet.Models;
using ParNet.Weights;

namespace ParNet.Cli;

/// <summary>`parnet fuse`: trained weights in, re-parameterized (fused) inference weights out.</summary>
public sealed class FuseCommand : ICommand
{
    public string Name => "fuse";
    public string Summary => "re-parameterize trained weights into the fused inference form";
    public string Usage => $"""
        usage: parnet fuse {ModelOptions.Usage} --weights IN.safetensors|IN.pt --out OUT.safetensors
          --weights  trained weights (released key names; BN running statistics are folded)
          --out      fused weights, safetensors; load them into ParNetFuser.CreateFused(config)
        """;

    public int Run(CliArgs args, TextWriter stdout)
    {
        var config = ModelOptions.Read(args);
        string weights = args.Required("weights");
        string output = args.Required("out");
        args.ThrowIfUnused();
        if (config.BlockType != BlockType.RepVggSse)
            throw new UsageException($"{config.Name}: only ParNet (RepVGG-SSE) models can be fused; this one is {config.BlockType}");
        if (!output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"--out must be a .safetensors file; got '{output}'");

        using var trained = new ParNetModel(config);
        StateDict.Load(trained, weights);
        using var fused = ParNetFuser.Fuse(trained);
        StateDict.Save(fused, output);
        stdout.WriteLine($"fused {config.Name}: {ModelSummary.CountTrainableParameters(trained):N0} -> " +
                         $"{ModelSummary.CountTrainableParameters(fused):N0} parameters; wrote {output}");
        return 0;
    }
}
