// Fine-tunes a pretrained ParNet on Fashion-MNIST through the public API of the ParNet.Core package: timm's
// create_model(name, pretrained, num_classes, in_chans), the library's data pipeline, its trainer and evaluation.
//
//   dotnet pack src/ParNet.Core -c Release -o artifacts/packages        (from the repository root, once)
//   dotnet run -c Release --project samples/FineTune -- WEIGHTS MODEL [PER_CLASS] [EPOCHS] [OUT_DIR]
//
// NuGet caches the package by version: after changing the library, pack it with -p:PackageVersion=V and run this with
// -p:ParNetPackageVersion=V (FineTune.csproj names 0.1.0), or the cached 0.1.0 runs.
//
// WEIGHTS: any weights file ParNet reads (.safetensors, .pt, the authors' timm .pth.tar); MODEL: a registered name
// (parnet_s, ...) or a model configuration JSON. Fashion-MNIST comes from Debian's dataset-fashion-mnist package.
using System.Globalization;
using System.Text.Json;
using ParNet.Data;
using ParNet.Export;
using ParNet.Models;
using ParNet.Training;
using ParNet.Weights;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: FineTune WEIGHTS MODEL|CONFIG.json [PER_CLASS=100] [EPOCHS=5] [OUT_DIR=finetune-run]");
    return 2;
}
try
{
    string weights = args[0], modelArg = args[1];
    int perClass = args.Length > 2 ? Count(args[2], "PER_CLASS") : 100;   // a small labelled set: where fine-tuning pays
    int epochs = args.Length > 3 ? Count(args[3], "EPOCHS") : 5;
    string outDir = args.Length > 4 ? args[4] : "finetune-run";

    // a path through the library's reader (its size limit, the authors' YAML, errors naming the file), a name through the registry
    bool isPath = File.Exists(modelArg) || modelArg.Contains('/') || Path.GetExtension(modelArg) is ".json" or ".yaml" or ".yml";
    ModelConfig config = isPath ? ModelConfig.Load(modelArg) : ModelRegistry.Get(modelArg);
    const string dataset = "fashion-mnist";
    int classes = DataPipelines.NumClasses(dataset, dataDir: null);

    // The backbone from the file; a new classifier for 10 classes; RGB first convolutions summed for grey images.
    using var model = Pretrained.CreateModel(config, weights, numClasses: classes, inChannels: 1);
    var recipe = Recipes.FineTune with { Epochs = epochs };
    var loader = new LoaderOptions { BatchSize = recipe.BatchSize, Seed = recipe.Seed, Subset = Subset.PerClass(perClass, recipe.Seed) };
    var train = DataPipelines.Train(dataset, null, model.Config, recipe.Augmentation(), loader);
    var test = DataPipelines.Eval(dataset, null, model.Config, recipe.Augmentation(), loader with { BatchSize = EvaluationDefaults.BatchSize, Subset = EvaluationDefaults.PerClassSubset(100) });

    Trainer.Seed(recipe.Seed);
    // the library prints nothing: its events come here (a checkpoint is in OUT_DIR/checkpoints after every epoch)
    using var trainer = new Trainer(model, train, test, new TrainOptions { Recipe = recipe, RunDirectory = outDir, Progress = new EpochLines() });
    var result = trainer.Run();
    double top1 = result.State.History.Last().TestAccuracy ?? double.NaN;

    // stored with its configuration, data set and side, so that a loader needs nothing else (ClassifierLoader.Load(saved, null, ...),
    // `parnet predict --weights FILE`): the class names and normalization come with it, and the side it trained at
    string saved = Path.Combine(outDir, "finetuned.safetensors");
    StateDict.Save(model, saved, new DeploymentInfo { Model = model.Config, Dataset = dataset, ImageSize = train.ImageShape.Height }.ToMetadata());
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"fine-tuned {config.Name} from {weights}: {train.Count} training images, {result.State.Epoch} epochs; " +
        $"test top-1 {top1 * 100:F2}% on {test.Count} images; weights {saved}"));
    return 0;
}
// what this program's arguments can cause (a missing or unreadable file, weights of another model, an unknown model name,
// a folder that holds a run already): one line, as a command-line program should; anything else keeps its stack trace
catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or JsonException or ArgumentException or FormatException)
{
    Console.Error.WriteLine($"FineTune: {e.Message}");
    return 2;
}

static int Count(string text, string name) =>
    int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n
        : throw new FormatException($"{name} must be a positive whole number; got '{text}'");

/// <summary>One line per epoch, as it ends (synchronously: <see cref="Progress{T}"/> would post them to the thread pool).</summary>
sealed class EpochLines : IProgress<TrainEvent>
{
    public void Report(TrainEvent value)
    {
        if (value is EpochEvent e)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"epoch {e.Metrics.Epoch}/{e.Epochs}: train loss {e.Metrics.TrainLoss:F4}, test top-1 {e.Metrics.TestAccuracy * 100:F2}%"));
    }
}
