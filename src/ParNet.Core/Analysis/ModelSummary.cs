using ParNet.Models;

namespace ParNet.Analysis;

/// <summary>What `parnet info` reports, all computed from the model itself.</summary>
public sealed record ModelSummary(
    string Name, long TrainableParameters, long MultiplyAdds, int Depth, int ImageSize,
    IReadOnlyList<(string Stage, long[] Shape)> Stages)
{
    /// <summary>The paper's "FLOPs": 2 x multiply-adds.</summary>
    public double GFlops => 2.0 * MultiplyAdds / 1e9;

    public static long CountTrainableParameters(TorchSharp.torch.nn.Module model) =>
        model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());

    public static ModelSummary Of(ImageClassifier model, int imageSize)
    {
        var graph = model.Trace(imageSize, imageSize);
        return new ModelSummary(model.Config.Name, CountTrainableParameters(model), graph.MultiplyAdds(), graph.Depth(),
            imageSize, graph.Stages.Select(s => (s.Stage, s.Node.Shape)).ToList());
    }
}
