using ParNet.Runtime;

namespace ParNet.Models.Tracing;

/// <summary>
/// Bytes of memory one image takes in a forward pass (an <see cref="ParNet.Inference.ImagePredictor"/>'s, an evaluation's) or a
/// training step, read off the model's traced
/// layer shapes (float32, per image): a lower bound, so that a batch refused for it surely cannot fit (the engines'
/// workspaces and layout copies come on top). <see cref="Basis"/> says what was counted, for messages; <see cref="Input"/>
/// is the image's shape [C, H, W].
/// </summary>
public sealed record ForwardMemory(long BytesPerImage, string Basis, long[] Input)
{
    /// <summary>
    /// TorchSharp, a lower bound: the conv and linear layers' outputs that exist at once, at most, with the batch's input
    /// array and its tensor. Each block of a model runs in a dispose scope of its own, which frees the maps it makes as it
    /// ends (<see cref="LayerGraph.Scoped"/>); what the blocks hand on lives until the pass ends. For ParNet-S at 224: 7.6 MB
    /// an image, the stem's first block's two convs, against 24-27 MB measured (fused: 4.4 against 12; `bench/ParNet.Bench -- memory`).
    /// </summary>
    public static ForwardMemory LayerOutputsAliveAtOnce(LayerGraph graph) => new(
        Bytes(graph.Nodes[0]) + AliveAtOnce(graph, n => n.Kind == LayerKind.Input || n.IsLayer),
        "the conv outputs that exist at once, at most", graph.Nodes[0].Shape);

    /// <summary>ONNX Runtime reuses its buffers from layer to layer: only the largest conv or linear layer's input and
    /// output, which exist at once in any engine, and the batch's input array are counted.</summary>
    public static ForwardMemory OfLargestLayer(LayerGraph graph) => OfLargestLayer(graph.Nodes[0].Shape,
        graph.Nodes.Where(n => n.IsLayer).Select(n => (n.Inputs[0].Kind == LayerKind.Input ? null : n.Inputs[0].Shape, n.Shape)));

    /// <summary>As <see cref="OfLargestLayer(LayerGraph)"/>, from the image's shape [C, H, W] and each layer's input (null
    /// where it is the image, counted once) and output shapes per image (<see cref="ParNet.Inference.OnnxLayerShapes"/> of an .onnx file);
    /// <paramref name="unknown"/> layers had no shape to count, which <see cref="Basis"/> then says.</summary>
    public static ForwardMemory OfLargestLayer(long[] image, IEnumerable<(long[]? Input, long[] Output)> layers, int unknown = 0)
    {
        long largest = layers.Select(l => Bytes(l.Output) + (l.Input is null ? 0 : Bytes(l.Input))).DefaultIfEmpty(0).Max();
        return new(Bytes(image) + largest, "the largest layer's input and output, which exist at once" +
            (unknown > 0 ? $" (of the layers whose shapes ONNX Runtime infers: {unknown} have none)" : ""), image);
    }

    /// <summary>How many images' forward passes can surely not be refused for memory here: this process's memory over
    /// <see cref="BytesPerImage"/> (what `serve --max-batch` and `predict --image-size` are checked against).</summary>
    public long ImagesThatFit => MachineMemory.AvailableBytes / BytesPerImage;

    /// <summary>
    /// An estimate of what a pass without gradients holds at its peak: every tensor of the traced pass that exist at once,
    /// at most (the input, each conv's, BatchNorm's, activation's, product's and sum's output; views not counted), as the
    /// blocks' dispose scopes free them (<see cref="LayerGraph.Scoped"/>). ParNet-S at 224 px: 23.2 MB an image, the stem's
    /// first block's maps, against 24-27 MB measured for eval's pass (`bench/ParNet.Bench -- memory`, AMD EPYC family 26
    /// model 2). A fused block overwrites its conv's output in place, which the trace counts as new maps: more than it holds.
    /// </summary>
    public static ForwardMemory TensorsAliveAtOnce(LayerGraph graph) => new(
        AliveAtOnce(graph, n => n.Kind is not (LayerKind.Flatten or LayerKind.Dropout or LayerKind.Subsample2)),
        "the tensors of the pass that exist at once, at most", graph.Nodes[0].Shape);

    /// <summary>
    /// A training step, a lower bound: what backward needs kept from the forward pass, each conv's, linear layer's and
    /// BatchNorm's input (their gradients read them), counted once each, float32. ParNet-S at 224 px: 52.6 MB an image,
    /// against 120-145 MB measured for a step (`bench/ParNet.Bench -- memory`); parnet_cifar_small at 32 px 1.8 against
    /// 4.6-5.5 MB.
    /// </summary>
    public static ForwardMemory SavedForBackward(LayerGraph graph) => new(
        graph.Nodes.Where(n => n.IsLayer || n.Kind == LayerKind.BatchNorm).SelectMany(n => n.Inputs).Distinct().Sum(Bytes),
        "each conv's, linear layer's and BatchNorm's input, which backward needs", graph.Nodes[0].Shape);

    /// <summary>The largest sum of <paramref name="counted"/> nodes' bytes alive at once, each from its making to the end
    /// of the scope that made it (<see cref="LayerGraph.FreedAfter"/>).</summary>
    static long AliveAtOnce(LayerGraph graph, Func<GraphNode, bool> counted)
    {
        var freedAfter = graph.Nodes.Where(counted).Where(n => graph.FreedAfter(n) is not null)
            .ToLookup(n => graph.FreedAfter(n)!.Value);
        long alive = 0, peak = 0;
        foreach (var node in graph.Nodes)
        {
            if (counted(node)) peak = Math.Max(peak, alive += Bytes(node));
            alive -= freedAfter[node.Id].Sum(Bytes);
        }
        return peak;
    }

    /// <summary>A default batch of at most <paramref name="wanted"/> images, each <paramref name="viewsPerImage"/> forward
    /// passes (ten-crop, mirrored views), lowered to fill at most half this machine's memory by this estimate: it falls short
    /// of what torch holds (1.03-1.16x for ParNet-S's training form), and the loader's batches and the weights come on top. ArgumentException, with
    /// the numbers, when one image's views alone pass that half (an --image-size far beyond the network's own: the default
    /// batch of 256 at 2048 px of the Fashion-MNIST network was killed by the kernel with nothing said).</summary>
    public int BatchThatFits(int wanted, int viewsPerImage)
    {
        viewsPerImage = Math.Max(1, viewsPerImage);
        long fits = ImagesThatFit / 2 / viewsPerImage;
        if (fits < 1)
            throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"an image of {string.Join('x', Input)}{(viewsPerImage > 1 ? $" in {viewsPerImage} views" : "")} takes about " +
                $"{MachineMemory.GiB((double)BytesPerImage * viewsPerImage)} in the forward pass ({Basis}), more than half the " +
                $"{MachineMemory.GiB(MachineMemory.AvailableBytes)} of memory here (the rest is for what that misses)"));
        return (int)Math.Min(fits, Math.Max(1, wanted));
    }

    /// <summary>ArgumentException, with the numbers, when a batch of <paramref name="batch"/> images, each
    /// <paramref name="viewsPerImage"/> forward passes, on each of <paramref name="workers"/> at once, surely cannot fit here
    /// (this being a lower bound): `serve --max-batch`, `eval --batch-size` and a training batch are checked by it.
    /// <paramref name="model"/> names what runs the pass, where the message should; <paramref name="workersAre"/> what runs
    /// at once ("workers", "processes on this machine").</summary>
    public void RequireBatchFits(int batch, int viewsPerImage = 1, int workers = 1, string? model = null, string workersAre = "workers")
    {
        (viewsPerImage, workers) = (Math.Max(1, viewsPerImage), Math.Max(1, workers));
        long fits = ImagesThatFit / viewsPerImage / workers;
        if (batch <= fits) return;
        double perBatch = (double)BytesPerImage * viewsPerImage * batch;
        string atOnce = workers > 1 ? $", {MachineMemory.GiB(perBatch * workers)} for the {workers} {workersAre} at once" : "";
        string fitting = fits == 0 ? "not one image can fit"
            : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"batches of at most {fits:N0} image{(fits == 1 ? "" : "s")} can fit");
        throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"a batch of {batch:N0} images{(viewsPerImage > 1 ? $" of {viewsPerImage} views each" : "")} takes at least " +
            $"{MachineMemory.GiB(perBatch)}{atOnce} ({BytesPerImage:N0} bytes {(viewsPerImage > 1 ? "a view" : "an image")} of " +
            $"{string.Join('x', Input)}{(model is null ? "" : $" for {model}")}: {Basis}), more than the " +
            $"{MachineMemory.GiB(MachineMemory.AvailableBytes)} of memory here; {fitting}"));
    }

    static long Bytes(GraphNode node) => Bytes(node.Shape);
    static long Bytes(long[] shape) => shape.Aggregate((long)sizeof(float), (a, b) => a * b);
}
