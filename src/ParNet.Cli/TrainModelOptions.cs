using System.CommandLine;
using ParNet.Data;
using ParNet.Models;
using ParNet.Training;

namespace ParNet.Cli;

/// <summary>
/// The model of `train`, `eval --weights` and `train-bench`: `--model`/`--config` (default: the configuration stored with
/// the weights, else the recipe's) and `--width`, with the data set's classes and channels (for a model that is not
/// given as a JSON file or stored with the weights, and for every fine-tuned one) and the recipe's dropout applied.
/// </summary>
public sealed class TrainModelOptions
{
    readonly ModelOptions _model = new();

    /// <param name="widthDefault">what --width defaults to, in the command's own options (train-bench has no weights to read
    /// a model from: its help named --weights/--pretrained, which it refuses)</param>
    public TrainModelOptions(string widthDefault = "the recipe's width, unless --model/--config is given or the --weights/--pretrained file stores its model") =>
        Width = CliOption.Int("--width", $"CIFAR-layout planes [W, 2W, 4W] (default: {widthDefault})", "W");

    public Option<int?> Width { get; }

    public void AddTo(Command command)
    {
        _model.AddTo(command);
        command.Add(Width);
    }

    /// <summary>Whether --model, --config or --width was given.</summary>
    public bool Given(ParseResult parse) => _model.Given(parse) || parse.Given(Width);

    /// <summary><paramref name="recipe"/> with the network a new run trains in its Model and Width, where the options or the
    /// pretrained weights replaced the recipe's default (recipe.json said width 16 over a run of --width 8): --model's name at
    /// --width (or its own), else the name of the configuration read (--config, the weights' stored one), which says its
    /// width (model.json holds the network).</summary>
    public Recipe Recorded(ParseResult parse, Recipe recipe, ModelConfig built, bool fromStored)
    {
        int? width = parse.GetValue(Width);
        if (parse.GetValue(_model.Model) is { } name) return recipe with { Model = name, Width = width };
        if (parse.Given(_model.Config) || fromStored) return recipe with { Model = built.Name, Width = null };
        return width is null ? recipe : recipe with { Width = width };
    }

    /// <param name="classCount">the classes the run trains on (--classes), when not all of the data set's</param>
    /// <param name="stored">the configuration stored with the weights the model starts from or is evaluated with
    /// (<see cref="ParNet.Export.ClassifierLoader.Stored"/>): the model when --model/--config are not given</param>
    /// <param name="newClassifier">fine-tuning: the classifier is new, for the data's classes, whatever the configuration says</param>
    /// <param name="folderSplit">the split of a folder data set whose classes the model takes (eval: the one it reads)</param>
    public ModelConfig Build(ParseResult parse, Recipe recipe, string dataset, string? data, int? classCount = null,
                             ModelConfig? stored = null, bool newClassifier = false, string folderSplit = "train")
    {
        // a ModelConfig JSON states its classes and channels; the authors' YAML files state neither (their code builds ImageNet's
        // 1000 RGB classes), so a YAML model takes the data's, as --model does (train --config their.yaml on any other data was
        // refused, telling the user to set NumClasses, which a YAML file cannot hold: audit of session 36)
        bool statesClasses = parse.GetValue(_model.Config) is { } configPath && !AuthorsYamlConfig.IsYamlPath(configPath);
        var model = _model.ReadOptional(parse) ?? stored ?? UsageException.Wrap(() => ModelRegistry.Get(recipe.Model));
        int? width = parse.GetValue(Width) ?? (_model.Given(parse) || stored is not null ? null : recipe.Width);
        if (width is int w)
        {
            if (model.Layout != Layout.Cifar) throw new UsageException("--width applies to CIFAR-layout models (planes [W, 2W, 4W])");
            if (w < 1) throw new UsageException("--width must be positive");
            model = model.WithCifarWidth(w);
        }
        if (newClassifier || !statesClasses && stored is null)
        {
            model = model with { NumClasses = classCount ?? UsageException.Wrap(() => DataPipelines.NumClasses(dataset, data, folderSplit)) };
            if (dataset == "fashion-mnist") model = model with { InChannels = 1 };
        }
        return UsageException.Wrap(() => recipe.WithDropouts(model).Validate());
    }
}
