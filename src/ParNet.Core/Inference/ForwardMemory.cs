using ParNet.Models.Tracing;

namespace ParNet.Inference;

/// <summary>
/// Bytes of memory one image takes in one forward pass of an <see cref="ImagePredictor"/>, read off the model's traced
/// layer shapes (float32, per image): a lower bound, so that a batch refused for it surely cannot fit (the engines'
/// workspaces and layout copies come on top). <see cref="Basis"/> says what was counted, for messages; <see cref="Input"/>
/// is the image's shape [C, H, W].
/// </summary>
public sealed record ForwardMemory(long BytesPerImage, string Basis, long[] Input)
{
    /// <summary>
    /// TorchSharp: the predictor runs the forward in one dispose scope, which holds every tensor the pass hands back until
    /// it ends; of those, only the conv and linear layers' outputs are counted, with the batch's input array and its
    /// tensor (measured peak resident memory per image: 1.25x this for parnet_cifar_small at 32 and parnet_s at 224;
    /// every traced tensor would have been 2.2x, more than torch really holds).
    /// </summary>
    public static ForwardMemory HeldByTorch(LayerGraph graph) => new(
        2 * Bytes(graph.Nodes[0]) + graph.Nodes.Where(n => n.IsLayer).Sum(Bytes),
        "every conv's output, which torch holds until the pass ends", graph.Nodes[0].Shape);

    /// <summary>ONNX Runtime reuses its buffers from layer to layer: only the largest conv or linear layer's input and
    /// output, which exist at once in any engine, and the batch's input array are counted.</summary>
    public static ForwardMemory OfLargestLayer(LayerGraph graph)
    {
        long largest = graph.Nodes.Where(n => n.IsLayer).Max(n => Bytes(n) + (n.Inputs[0].Kind == LayerKind.Input ? 0 : Bytes(n.Inputs[0])));
        return new(Bytes(graph.Nodes[0]) + largest, "the largest layer's input and output, which exist at once", graph.Nodes[0].Shape);
    }

    static long Bytes(GraphNode node) => node.Shape.Aggregate((long)sizeof(float), (a, b) => a * b);
}
