using ParNet.Models;

namespace ParNet.Cli;

/// <summary>`--model NAME` or `--config FILE`: the model options shared by every command.</summary>
public static class ModelOptions
{
    public const string Usage = "--model NAME | --config FILE.json";

    public static ModelConfig Read(CliArgs args, string? defaultModel = null)
    {
        string? name = args.String("model");
        string? configPath = args.String("config");
        if (name is not null && configPath is not null) throw new UsageException("give --model or --config, not both");
        if (configPath is not null) return ModelConfig.Load(configPath);
        name ??= defaultModel ?? throw new UsageException($"{Usage} is required; models: {string.Join(", ", ModelRegistry.Names)}");
        return ModelRegistry.Get(name);
    }
}
