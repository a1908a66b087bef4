using System.CommandLine;
using ParNet.Models;

namespace ParNet.Cli;

/// <summary>`--model NAME` or `--config FILE` (.json, or the authors' .yaml): the model options shared by every command.</summary>
public sealed class ModelOptions
{
    /// <param name="defaultModel">the command's default, said in --model's help (null: the command says none there)</param>
    public ModelOptions(string? defaultModel = null) =>
        Model = CliOption.Text("--model", "a registered model: " + string.Join(", ", ModelRegistry.Names) +
                                          (defaultModel is null ? "" : $" (default: {defaultModel})"), "NAME");

    public Option<string?> Model { get; }

    public Option<string?> Config { get; } = CliOption.Text("--config",
        "a ModelConfig JSON file (property names in any case) or one of the authors' YAML model files (imagenet/models/*.yaml of github.com/imankgoyal/NonDeepNetworks), instead of --model", "FILE");

    public void AddTo(Command command) => command.Add(Model, Config);

    public bool Given(ParseResult parse) => parse.Given(Model) || parse.Given(Config);

    /// <summary>The model the user named; null when neither option is given.</summary>
    public ModelConfig? ReadOptional(ParseResult parse)
    {
        string? name = parse.GetValue(Model);
        string? configPath = parse.GetValue(Config);
        if (name is not null && configPath is not null) throw new UsageException("give --model or --config, not both");
        if (configPath is not null) return UsageException.Wrap(() => ModelConfig.Load(configPath), configPath);
        return name is null ? null : UsageException.Wrap(() => ModelRegistry.Get(name));
    }

    public ModelConfig Read(ParseResult parse, string? defaultModel = null) =>
        ReadOptional(parse) ?? (defaultModel is not null ? UsageException.Wrap(() => ModelRegistry.Get(defaultModel))
            : throw new UsageException($"--model NAME or --config FILE.json is required; models: {string.Join(", ", ModelRegistry.Names)}"));
}
