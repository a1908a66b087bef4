namespace ParNet.Models;

/// <summary>The network of a configuration: a ParNet for RepVGG-SSE blocks, a ResNet for basic blocks.</summary>
public static class ModelFactory
{
    public static ImageClassifier Create(ModelConfig config) => config.Validate().BlockType switch
    {
        BlockType.RepVggSse => new ParNetModel(config),
        BlockType.ResNetBasic => new ResNetModel(config),
        _ => throw new ArgumentException($"{config.Name}: unknown block type {config.BlockType}"),
    };
}
