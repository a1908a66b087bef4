using System.CommandLine;
using System.Text.Json;
using ParNet.Data;
using ParNet.Export;
using ParNet.Inference;
using ParNet.Models;
using static TorchSharp.torch;

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
    readonly Option<string?> _engine = CliOption.Text("--engine",
        "torch or onnxruntime (weights are exported in memory first) (default: onnxruntime for an .onnx file, else torch)", "ENGINE");
    readonly Option<bool> _fused = CliOption.Switch("--fused", WeightsLoading.FusedDescription);
    readonly Option<bool> _ema = WeightsLoading.EmaOption();
    readonly Option<string?> _dataset = CliOption.Text("--dataset", "fashion-mnist, mnist, cifar10, cifar100 or imagenet: class names and " +
        "preprocessing (default: what is stored with the weights; otherwise ImageNet statistics and \"class i\")", "NAME");
    readonly Option<int?> _imageSize = CliOption.Int("--image-size", "network input side (default: the stored one, else the model's natural size)");
    readonly Option<int?> _top = CliOption.Int("--top", "classes shown per image (default 5, as the paper's top-5)", "K");
    readonly Option<bool> _json = CliOption.Switch("--json", "machine-readable output");
    readonly Argument<string[]> _images = new("IMAGE")
    {
        Description = "JPEG/PNG/WebP files; an unreadable one is reported and the others still run (exit code 1). RGB models resize the " +
                      "short side to size/0.875 (bicubic) and centre-crop; Fashion-MNIST/MNIST models take the image in grey at 28x28 " +
                      "(white object on black, like the data set), padded as in training",
        Arity = ArgumentArity.OneOrMore,
    };

    public override string Name => "predict";
    public override string Summary => "top-5 classes of image files (TorchSharp or ONNX Runtime)";

    protected override void Declare(Command command)
    {
        _model.AddTo(command);
        command.Add(_weights, _engine, _fused, _ema, _dataset, _imageSize, _top, _json);
        command.Arguments.Add(_images);
    }

    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        var config = _model.ReadOptional(parse);
        string weights = parse.GetValue(_weights)!;
        string engineName = parse.GetValue(_engine) ?? (weights.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) ? "onnxruntime" : "torch");
        bool fuse = parse.GetValue(_fused);
        string? dataset = parse.GetValue(_dataset);
        int? size = parse.GetValue(_imageSize);
        int top = parse.GetValue(_top) ?? 5;
        bool json = parse.GetValue(_json);
        var images = parse.GetValue(_images) ?? [];
        if (engineName is not ("torch" or "onnxruntime")) throw new UsageException($"--engine {engineName}: use torch or onnxruntime");
        if (images.Length == 0) throw new UsageException("no IMAGE given");
        if (top < 1) throw new UsageException($"--top must be >= 1; got {top}");
        bool onnxFile = weights.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);
        if (onnxFile && engineName == "torch") throw new UsageException("an .onnx file runs with --engine onnxruntime");

        using var predictor = onnxFile ? Predictor.FromOnnx(weights, config) : Predictor.FromWeights(weights, config, fuse, parse.GetValue(_ema), engineName == "onnxruntime", size);
        var info = predictor.Info;
        if (dataset is not null)
        {
            if (DeploymentInfo.KnownDataset(dataset) is null && dataset is not ("imagenet" or "folder"))
                throw new UsageException($"--dataset {dataset}: unknown; known: fashion-mnist, mnist, cifar10, cifar100, imagenet");
            info = (info with { Dataset = dataset, ClassNames = null, Mean = null, Std = null }).Completed();
            if (info.ClassNames is { } known && known.Count != predictor.Config.NumClasses)
                throw new UsageException($"--dataset {dataset} names {known.Count} classes; the model has {predictor.Config.NumClasses}");
        }
        int side = predictor.FixedSize ?? size ?? info.ImageSize ?? predictor.Config.DefaultImageSize;
        if (size is int requested && requested != side)
            throw new UsageException($"--image-size {requested}: the ONNX model was exported for {side}x{side}");
        int multiple = predictor.Config.InputSizeMultiple;
        if (side < multiple || side % multiple != 0)
            throw new UsageException($"image size {side}: {predictor.Config.Name} needs a multiple of {multiple}");
        var preprocessing = new DeploymentPreprocessing(predictor.Config, info, side);
        var names = info.ClassNames ?? [];

        var results = new List<object>();
        int failures = 0;
        foreach (var file in images)
        {
            try
            {
                var image = preprocessing.Load(file);
                var probabilities = predictor.Probabilities(image);
                var best = probabilities.Select((p, i) => (p, i)).OrderByDescending(t => t.p).Take(top).ToList();
                if (json)
                    results.Add(new
                    {
                        file,
                        top = best.Select(b => new { @class = b.i, name = b.i < names.Count ? names[b.i] : $"class {b.i}", probability = b.p }),
                    });
                else
                {
                    stdout.WriteLine(file);
                    for (int k = 0; k < best.Count; k++)
                        stdout.WriteLine($"  {k + 1}. {best[k].p,7:P2}  {(best[k].i < names.Count ? names[best[k].i] : $"class {best[k].i}")} ({best[k].i})");
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

    /// <summary>One model behind either engine: image in, class probabilities out.</summary>
    sealed class Predictor : IDisposable
    {
        ImageClassifier? _torch;
        OnnxRuntimeEngine? _onnx;

        public required ModelConfig Config { get; init; }
        public required DeploymentInfo Info { get; init; }
        /// <summary>The side an ONNX graph is fixed to; null for TorchSharp.</summary>
        public int? FixedSize { get; init; }

        public static Predictor FromWeights(string weights, ModelConfig? config, bool fuse, bool ema, bool onnxRuntime, int? size)
        {
            var (model, info, _) = WeightsLoading.Load(weights, config, fuse, ema);
            if (!onnxRuntime) return new Predictor { Config = model.Config, Info = info, _torch = model };
            using (model)
            {
                int side = size ?? info.ImageSize ?? model.Config.DefaultImageSize;
                UsageException.Wrap(() => model.CheckImageSize(side, side), "--image-size");
                var bytes = OnnxExporter.ExportToBytes(model, side, new OnnxExportOptions { Info = info });
                return new Predictor { Config = model.Config, Info = info, FixedSize = side, _onnx = new OnnxRuntimeEngine(bytes) };
            }
        }

        public static Predictor FromOnnx(string path, ModelConfig? config)
        {
            var engine = new OnnxRuntimeEngine(path);
            var info = engine.Info.Completed();
            var model = config ?? info.Model;
            if (model is null)
            {
                engine.Dispose();
                throw new InvalidDataException($"{path}: no ParNet model configuration in its metadata; give --model or --config");
            }
            info = (info with { Model = model }).Completed();
            return new Predictor { Config = model, Info = info, FixedSize = (int)engine.InputShape[^1], _onnx = engine };
        }

        public float[] Probabilities(ImageF image)
        {
            long[] shape = [1, image.Channels, image.Height, image.Width];
            if (_onnx is not null)
            {
                var (logits, _) = _onnx.Run(image.Data, shape);
                return Softmax(logits);
            }
            using var scope = NewDisposeScope();
            using var mode = inference_mode(true);
            var x = tensor(image.Data, shape);
            _torch!.CheckInput(x);
            return Softmax(_torch.call(x).to(ScalarType.Float32).data<float>().ToArray());
        }

        static float[] Softmax(float[] logits)
        {
            double max = logits.Max();
            var e = logits.Select(v => Math.Exp(v - max)).ToArray();
            double sum = e.Sum();
            return e.Select(v => (float)(v / sum)).ToArray();
        }

        public void Dispose()
        {
            _torch?.Dispose();
            _onnx?.Dispose();
        }
    }
}
