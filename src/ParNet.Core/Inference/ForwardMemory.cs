using ParNet.Runtime;
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
    public static ForwardMemory OfLargestLayer(LayerGraph graph) => OfLargestLayer(graph.Nodes[0].Shape,
        graph.Nodes.Where(n => n.IsLayer).Select(n => (n.Inputs[0].Kind == LayerKind.Input ? null : n.Inputs[0].Shape, n.Shape)));

    /// <summary>As <see cref="OfLargestLayer(LayerGraph)"/>, from the image's shape [C, H, W] and each layer's input (null
    /// where it is the image, counted once) and output shapes per image (<see cref="OnnxLayerShapes"/> of an .onnx file);
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
    /// Every tensor of the traced pass, the input included: about what an evaluation of the training-form network holds
    /// until a batch is scored (each BatchNorm's, activation's and sum's output as well as the convs'). ParNet-S at 224 px:
    /// 129 MB an image, against 144 MB measured (`parnet eval --batch-size 25` and `75`, peak resident memory 3.5 and
    /// 10.7 GB; AMD EPYC family 26 model 2, sizes audit, session 38): an estimate to size a default batch by.
    /// </summary>
    public static ForwardMemory EveryTensor(LayerGraph graph) => new(
        graph.Nodes.Sum(Bytes), "every tensor of the pass, which an evaluation holds until the batch is scored", graph.Nodes[0].Shape);

    /// <summary>A default batch of at most <paramref name="wanted"/> images, each <paramref name="viewsPerImage"/> forward
    /// passes (ten-crop, mirrored views), lowered to fill at most half this machine's memory by this estimate: it falls short
    /// of what torch holds (1.12x for ParNet-S), and the loader's batches and the weights come on top. ArgumentException, with
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
    /// (this being a lower bound): `serve --max-batch` and `eval --batch-size` are checked by it. <paramref name="model"/>
    /// names what runs the pass, where the message should.</summary>
    public void RequireBatchFits(int batch, int viewsPerImage = 1, int workers = 1, string? model = null)
    {
        (viewsPerImage, workers) = (Math.Max(1, viewsPerImage), Math.Max(1, workers));
        long fits = ImagesThatFit / viewsPerImage / workers;
        if (batch <= fits) return;
        double perBatch = (double)BytesPerImage * viewsPerImage * batch;
        string atOnce = workers > 1 ? $", {MachineMemory.GiB(perBatch * workers)} for the {workers} workers at once" : "";
        throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"a batch of {batch:N0} images{(viewsPerImage > 1 ? $" of {viewsPerImage} views each" : "")} takes at least " +
            $"{MachineMemory.GiB(perBatch)}{atOnce} ({BytesPerImage:N0} bytes {(viewsPerImage > 1 ? "a view" : "an image")} of " +
            $"{string.Join('x', Input)}{(model is null ? "" : $" for {model}")}: {Basis}), more than the " +
            $"{MachineMemory.GiB(MachineMemory.AvailableBytes)} of memory here; batches of at most {fits:N0} images can fit"));
    }

    static long Bytes(GraphNode node) => Bytes(node.Shape);
    static long Bytes(long[] shape) => shape.Aggregate((long)sizeof(float), (a, b) => a * b);
}
