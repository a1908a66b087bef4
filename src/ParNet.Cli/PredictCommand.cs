using System.CommandLine;
using System.Text.Json;
using ParNet.Data;
using ParNet.Export;
using ParNet.Inference;

namespace ParNet.Cli;

/// <summary>`parnet predict`: top-5 classes of image files, with TorchSharp or ONNX Runtime.</summary>
public sealed class PredictCommand : CliCommand
{
    readonly ModelOptions _model = new();
    readonly Option<string> _weights = new("--weights")
    {
        Description = WeightsLoading.Description + ", or an exported .onnx (implies --engine onnxruntime); model config and class names " +
                      "also come from a sidecar W.json, the safetensors metadata or a training checkpoint's state.json",
        HelpName = "W", Required = true,
    };
    readonly Option<string?> _engine = CliOption.Text("--engine", PredictorLoading.EngineDescription, "ENGINE");
    readonly Option<bool> _fused = WeightsLoading.FusedOption();
    readonly Option<bool> _unfused = WeightsLoading.UnfusedOption();
    readonly Option<bool> _ema = WeightsLoading.EmaOption();
    readonly Option<string?> _dataset = CliOption.Text("--dataset", WeightsLoading.DatasetChoices + ": class names and " +
        "preprocessing (default: what is stored with the weights; otherwise ImageNet statistics and \"class i\")", "NAME");
    readonly Option<int?> _imageSize = CliOption.Int("--image-size", $"input side in pixels (default: {CliOption.StoredSide})", "PX");
    readonly Option<int?> _top = CliOption.Int("--top", "classes shown per image (default 5, as the paper's top-5)", "K");
    readonly Option<bool> _json = CliOption.Switch("--json", "machine-readable output");
    readonly Option<int?> _threads = PredictorLoading.ThreadsOption();   // as serve's (help audit, session 39)
    readonly Argument<string[]> _images = new("IMAGE")
    {
        Description = "JPEG, PNG, WebP, BMP or GIF files; an unreadable one is reported and the others still run (exit code 1). RGB models resize the " +
                      "short side to --image-size/0.875 (bicubic) and centre-crop; Fashion-MNIST/MNIST models take the image in grey at 28x28 " +
                      "(white object on black, like the data set), padded as in training",
        Arity = ArgumentArity.OneOrMore,
    };

    public override string Name => "predict";
    public override string Summary => "the most likely classes of image files (5, or --top K; TorchSharp or ONNX Runtime)";

    protected override void Declare(Command command)
    {
        _model.AddTo(command);
        command.Add(_weights, _engine, _fused, _unfused, _ema, _dataset, _imageSize, _top, _json, _threads);
        command.Arguments.Add(_images);
    }

    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        // IMAGE takes any word, so a misspelt or foreign option ("--threads 2") came through as two images "not found" and
        // exit 1 (help audit, session 39): a word of an option's form that is no file is refused as one
        if ((parse.GetValue(_images) ?? []).FirstOrDefault(w => w.StartsWith('-') && w.Length > 1 && !File.Exists(w)) is { } option)
            throw new UsageException($"unknown option: {option} (see --help)");
        var config = _model.ReadOptional(parse);
        string weights = parse.GetValue(_weights)!;
        var engine = PredictorLoading.Engine(weights, parse.GetValue(_engine));
        int? size = parse.GetValue(_imageSize);
        int top = parse.GetValue(_top) ?? 5;
        bool json = parse.GetValue(_json);
        var images = parse.GetValue(_images) ?? [];
        if (images.Length == 0) throw new UsageException("no IMAGE given");
        var form = WeightsLoading.InferenceForm(parse.GetValue(_fused), parse.GetValue(_unfused));
        CliOption.RequireAtLeastOne("--top", top);
        var onnx = PredictorLoading.ApplyThreads(parse.GetValue(_threads), Name, stderr);

        using var predictor = PredictorLoading.Open(weights, config, engine, form, parse.GetValue(_ema), size,
                                                    onnx);
        PredictorLoading.WarnIfNoWinograd(predictor, stderr, Name);
        var (preprocessing, names) = PredictorLoading.Preprocessing(predictor, parse.GetValue(_dataset), size);
        PredictorLoading.WarnIfStatisticsGuessed(preprocessing.StatisticsGuessed, predictor.Config, stderr, Name);

        var results = new List<object>();
        int failures = 0;
        foreach (var file in images)
        {
            try
            {
                if (Directory.Exists(file)) throw new InvalidDataException($"{file}: a folder, not an image (give the image files, e.g. {Path.Combine(file, "*.png")})");
                var image = preprocessing.Load(file);
                var best = TopClasses.Of(predictor.Probabilities(image), top, names);   // an output not finite: this file's error
                if (json)
                    results.Add(new
                    {
                        file,
                        top = best.Select(b => new { @class = b.Class, name = b.Name, probability = b.Probability }),
                    });
                else
                {
                    stdout.WriteLine(file);
                    for (int k = 0; k < best.Count; k++)
                    {
                        var (index, name, probability) = best[k];
                        // the index after a name, not after a placeholder that is the index already ("class 473 (473)")
                        stdout.WriteLine($"  {k + 1}. {probability,8:P2}  {name}{(name == DatasetInfo.PlaceholderClassName(index) ? "" : $" ({index})")}");
                    }
                }
            }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                failures++;
                string message = e.Message.Contains(file, StringComparison.Ordinal) ? e.Message : $"{file}: {e.Message}";
                if (json) results.Add(new { file, error = message });
                else stderr.WriteLine($"parnet predict: {message}");
            }
        }
        if (json) stdout.WriteLine(JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
        return failures == 0 ? 0 : 1;
    }
}
