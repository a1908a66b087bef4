using ParNet.Models;
using ParNet.Weights;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ParNet.Cli;

/// <summary>`parnet forward`: logits of a tensor file, for scripted parity checks against other frameworks.</summary>
public sealed class ForwardCommand : ICommand
{
    public string Name => "forward";
    public string Summary => "run a model on a tensor file and write the logits";
    public string Usage => $"""
        usage: parnet forward {ModelOptions.Usage} --weights W.safetensors|W.pt --input X.safetensors --output Y.safetensors
          --input    a safetensors file holding the tensor 'input' (or exactly one tensor), float32 [N, C, H, W]
          --output   written with the tensor 'logits' [N, classes]
        """;

    public int Run(CliArgs args, TextWriter stdout)
    {
        var config = ModelOptions.Read(args);
        string weights = args.Required("weights");
        string inputPath = args.Required("input");
        string outputPath = args.Required("output");
        args.ThrowIfUnused();

        using var model = ModelFactory.Create(config);
        StateDict.Load(model, weights);
        model.eval();
        var tensors = StateDict.Read(inputPath);
        var input = tensors.TryGetValue("input", out var named) ? named
            : tensors.Count == 1 ? tensors.Values.Single()
            : throw new InvalidDataException($"{inputPath}: expected a tensor named 'input' or exactly one tensor; found {string.Join(", ", tensors.Keys)}");
        model.CheckInput(input);

        using var noGrad = no_grad();
        using var logits = model.call(input.to(float32));
        StateDict.Write(new Dictionary<string, Tensor> { ["logits"] = logits }, outputPath);
        stdout.WriteLine($"wrote logits [{string.Join(", ", logits.shape)}] to {outputPath}");
        return 0;
    }
}
