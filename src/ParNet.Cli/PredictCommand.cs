using System.Text.Json;
using ParNet.Data;
using ParNet.Export;
using ParNet.Inference;
using ParNet.Models;
using static TorchSharp.torch;

namespace ParNet.Cli;

/// <summary>`parnet predict`: top-5 classes of image files, with TorchSharp or ONNX Runtime.</summary>
public sealed class PredictCommand : ICommand
{
    public string Name => "predict";
    public string Summary => "top-5 classes of image files (TorchSharp or ONNX Runtime)";
    public string Usage => $"""
        usage: parnet predict --weights W.safetensors|W.pt|M.onnx [{ModelOptions.Usage}] [--engine torch|onnxruntime] [--fused]
                              [--dataset NAME] [--image-size N] [--top K] [--json] IMAGE...
          --weights    weights (.safetensors/.pt; trained or fused) or an exported .onnx (implies --engine onnxruntime)
          --model/--config  required unless stored with the weights: sidecar W.json, safetensors metadata, or the
                       state.json of a training checkpoint folder (RUN/checkpoints/best/model.safetensors)
          --engine     torch (default) or onnxruntime (weights are exported in memory first)
          --dataset    fashion-mnist, mnist, cifar10, cifar100 or imagenet: class names and preprocessing
                       (default: what is stored with the weights; otherwise ImageNet statistics and "class i")
          --top K      classes shown per image (default 5)
          IMAGE        JPEG/PNG/WebP files; an unreadable one is reported and the others still run (exit code 1)
        preprocessing: RGB models resize the short side to size/0.875 (bicubic) and centre-crop; Fashion-MNIST/MNIST
        models take the image in grey at 28x28 (white object on black, like the data set), padded as in training.
        """;

    public int Run(CliArgs args, TextWriter stdout)
    {
        ModelConfig? config = args.Has("model") || args.Has("config") ? ModelOptions.Read(args) : null;
        string weights = args.Required("weights");
        string engineName = args.String("engine") ?? (weights.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) ? "onnxruntime" : "torch");
        bool fuse = args.Flag("fused");
        string? dataset = args.String("dataset");
        int? size = args.Int("image-size");
        int top = args.Int("top") ?? 5;
        bool json = args.Flag("json");
        var images = args.Positional;
        args.ThrowIfUnused();
        if (engineName is not ("torch" or "onnxruntime")) throw new UsageException($"--engine {engineName}: use torch or onnxruntime");
        if (images.Count == 0) throw new UsageException("no IMAGE given");
        if (top < 1) throw new UsageException($"--top must be >= 1; got {top}");
        bool onnxFile = weights.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);
        if (onnxFile && engineName == "torch") throw new UsageException("an .onnx file runs with --engine onnxruntime");

        using var predictor = onnxFile ? Predictor.FromOnnx(weights, config) : Predictor.FromWeights(weights, config, fuse, engineName == "onnxruntime", size);
        var info = predictor.Info;
        if (dataset is not null)
        {
            if (DeploymentInfo.KnownDataset(dataset) is null && dataset is not ("imagenet" or "folder"))
                throw new UsageException($"--dataset {dataset}: unknown; known: fashion-mnist, mnist, cifar10, cifar100, imagenet");
            info = (info with { Dataset = dataset, ClassNames = null, Mean = null, Std = null }).Completed();
        }
        int side = predictor.FixedSize ?? size ?? info.ImageSize ?? predictor.Config.DefaultImageSize;
        if (size is int requested && requested != side)
            throw new UsageException($"--image-size {requested}: the ONNX model was exported for {side}x{side}");
        int multiple = predictor.Config.Validate().InputSizeMultiple;
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
                else Console.Error.WriteLine($"parnet predict: {message}");
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

        public static Predictor FromWeights(string weights, ModelConfig? config, bool fuse, bool onnxRuntime, int? size)
        {
            var (model, info) = ClassifierLoader.Load(weights, config, fuse);
            if (!onnxRuntime) return new Predictor { Config = model.Config, Info = info, _torch = model };
            using (model)
            {
                int side = size ?? info.ImageSize ?? model.Config.DefaultImageSize;
                model.CheckImageSize(side, side);
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
