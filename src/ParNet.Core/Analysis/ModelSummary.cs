using ParNet.Models;

namespace ParNet.Analysis;

/// <summary>What `parnet info` reports, all computed from the model itself.</summary>
public sealed record ModelSummary(
    string Name, long TrainableParameters, long MultiplyAdds, int Depth, int ImageSize,
    IReadOnlyList<(string Stage, long[] Shape)> Stages)
{
    /// <summary>2 x multiply-adds. Of the fused model, this is what the paper calls FLOPs.</summary>
    public double GFlops => 2.0 * MultiplyAdds / 1e9;

    /// <summary>The same numbers for the fused (inference) form; null where fusion does not apply (ResNet).</summary>
    public ModelSummary? Fused { get; init; }

    /// <summary>Summary of the training form and, for ParNets, of the fused form built empty from the config.</summary>
    public static ModelSummary OfBothForms(ImageClassifier model, int imageSize)
    {
        var summary = Of(model, imageSize);
        if (model.Config.BlockType != BlockType.RepVggSse) return summary;
        using var fused = Fusion.ParNetFuser.CreateFused(model.Config);
        return summary with { Fused = Of(fused, imageSize) };
    }

    /// <summary>The parameters that train (a frozen part's, requires_grad off, are left out).</summary>
    public static long CountTrainableParameters(TorchSharp.torch.nn.Module model) =>
        model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());

    /// <summary>Every parameter, trainable or frozen: the size of the network.</summary>
    public static long CountParameters(TorchSharp.torch.nn.Module model) => model.parameters().Sum(p => p.numel());

    public static ModelSummary Of(ImageClassifier model, int imageSize)
    {
        var graph = model.Trace(imageSize, imageSize);
        return new ModelSummary(model.Config.Name, CountTrainableParameters(model), graph.MultiplyAdds(), graph.Depth(),
            imageSize, graph.Stages.Select(s => (s.Stage, s.Node.Shape)).ToList());
    }
}
