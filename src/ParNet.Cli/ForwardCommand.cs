using System.CommandLine;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Cli;

/// <summary>`parnet forward`: logits of a tensor file, for scripted parity checks against other frameworks.</summary>
public sealed class ForwardCommand : CliCommand
{
    readonly ModelOptions _model = new();
    readonly Option<string> _weights = new("--weights") { Description = WeightsLoading.Description, HelpName = "W", Required = true };
    readonly Option<bool> _fused = CliOption.Switch("--fused", WeightsLoading.FusedDescription);
    readonly Option<bool> _ema = WeightsLoading.EmaOption();
    readonly Option<bool> _channelsLast = CliOption.Switch("--channels-last",
        "lay the weights and the input out channels_last, as predict and serve's torch engines run them (default: NCHW)");
    readonly Option<string> _input = new("--input")
    {
        Description = "a safetensors file holding the tensor 'input' (or exactly one tensor), float32 [N, C, H, W]", HelpName = "X.safetensors", Required = true,
    };
    readonly Option<int?> _threads = CliOption.Int("--threads", "threads of the forward pass (torch.set_num_threads) (default: libtorch's own, one per core)");
    readonly Option<string> _output = new("--out", "--output")   // --out: as every other command's output; --output before
    {
        Description = "written with the tensor 'logits' [N, classes] (--output: its older name)", HelpName = "Y.safetensors", Required = true,
    };

    public override string Name => "forward";
    public override string Summary => "run a model on a tensor file and write the logits (give --model/--config unless the weights store their model)";

    protected override void Declare(Command command)
    {
        _model.AddTo(command);
        command.Add(_weights, _fused, _ema, _channelsLast, _threads, _input, _output);
    }

    /// <summary>The first few names and the count: a state dict given as --input by mistake holds hundreds, and the
    /// error is one line.</summary>
    static string Names(IEnumerable<string> names, int shown = 5)
    {
        var all = names.ToList();
        return all.Count <= shown ? string.Join(", ", all) : $"{all.Count} tensors ({string.Join(", ", all.Take(shown))}, ...)";
    }

    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        var config = _model.ReadOptional(parse);
        string inputPath = parse.GetValue(_input)!, outputPath = parse.GetValue(_output)!, weights = parse.GetValue(_weights)!;
        string outputOption = parse.Typed(_output);   // the name the user typed
        WeightsLoading.RequireNotAnInput(outputOption, outputPath, ("--weights", weights), ("--input", inputPath));
        WeightsLoading.RequireSafetensorsOut(outputPath, outputOption);   // it writes safetensors, whatever the name says
        int? threads = parse.GetValue(_threads);
        CliOption.CheckThreads(threads, Name, stderr);
        if (threads is int n) set_num_threads(n);
        using var model = WeightsLoading.Load(weights, config, parse.GetValue(_fused), parse.GetValue(_ema)).Model;
        var tensors = StateDict.Read(inputPath, "input tensor");
        var input = tensors.TryGetValue("input", out var named) ? named
            : tensors.Count == 1 ? tensors.Values.Single()
            : throw new InvalidDataException($"{inputPath}: expected a tensor named 'input' or exactly one tensor; found {Names(tensors.Keys)}");
        // integer pixels (0-255) or booleans were cast to float without a word: nonsense logits (bench/export audit, session 41)
        if (!input.is_floating_point())
            throw new UsageException($"{inputPath}: the input tensor is {input.dtype}; forward takes floating-point [N, C, H, W], normalized as the model's preprocessing does");
        UsageException.Wrap(() => model.CheckInput(input), inputPath);

        using var noGrad = no_grad();
        var x = input.to(float32);
        if (parse.GetValue(_channelsLast))
        {
            ParNet.Runtime.MemoryFormat.ToChannelsLast(model);
            x = ParNet.Runtime.MemoryFormat.ToChannelsLast(x);
        }
        using var logits = model.call(x).contiguous();
        StateDict.Write(new Dictionary<string, Tensor> { ["logits"] = logits }, outputPath);
        stdout.WriteLine($"wrote logits [{string.Join(", ", logits.shape)}] to {outputPath}");
        foreach (var t in tensors.Values) t.Dispose();
        return 0;
    }
}
