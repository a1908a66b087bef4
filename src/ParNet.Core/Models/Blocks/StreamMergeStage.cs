using TorchSharp.Modules;
using static TorchSharp.torch;
using ParNet.Models.Tracing;
using ParNet.Runtime;

namespace ParNet.Models.Blocks;

/// <summary>
/// Joins a stream with the path coming from the previous streams (the released code's Sequential,
/// hence the numeric keys): "0" one BN per input (b1 = this stream, b2 = previous path) and a channel
/// interleave (2k = stream, 2k+1 = path); "2" a block with groups 2; then a 2-group channel shuffle;
/// "3" (optional) the block that follows in the same Sequential (the wide block of `combine`).
/// With a single stream there is nothing to join and only "3" exists.
/// The paper calls this a fusion block; here "fuse" means only re-parameterization (ParNet.Fusion, `parnet
/// fuse`, the authors' fuse_repvgg_block), so joining streams is called merging.
/// </summary>
public sealed class StreamMergeStage : nn.Module<Tensor, Tensor?, Tensor>
{
    // Held in a tuple, not in module fields: TorchSharp would register fields a second time under their names.
    private readonly (StreamMergeInputs? Inputs, nn.Module<Tensor, Tensor>? Block, nn.Module<Tensor, Tensor>? Next) _parts;

    public StreamMergeStage(StreamMergeInputs? inputs, nn.Module<Tensor, Tensor>? block, nn.Module<Tensor, Tensor>? next)
        : base(nameof(StreamMergeStage))
    {
        if ((inputs is null) != (block is null)) throw new ArgumentException("a merge stage needs both its input BNs and its block");
        if (inputs is null && next is null) throw new ArgumentException("an empty stream-merge stage");
        _parts = (inputs, block, next);
        // Numeric child names, as the released Sequential: no C# field can be called "0".
        if (inputs is not null) register_module("0", inputs);
        if (block is not null) register_module("2", block);
        if (next is not null) register_module("3", next);
    }

    public StreamMergeInputs? Inputs => _parts.Inputs;
    public nn.Module<Tensor, Tensor>? Block => _parts.Block;
    public nn.Module<Tensor, Tensor>? Next => _parts.Next;

    public override Tensor forward(Tensor stream, Tensor? path)
    {
        var y = stream;
        if (Inputs is not null)
        {
            if (path is null) throw new ArgumentException("this stream-merge stage joins two paths; the previous path is missing");
            y = ChannelShuffle(Block!.call(Inputs.call(stream, path)), groups: 2);
        }
        return Next is null ? y : Next.call(y);
    }

    public GraphNode Trace(LayerGraph g, string prefix, GraphNode stream, GraphNode? path)
    {
        var y = stream;
        if (Inputs is not null)
        {
            var joined = Inputs.Trace(g, prefix + "0.", stream, path!);
            y = g.ChannelShuffle(((ITraceable)Block!).Trace(g, prefix + "2.", joined), 2);
        }
        return Next is null ? y : ((ITraceable)Next).Trace(g, prefix + "3.", y);
    }

    /// <summary>View the channels as (groups, C/groups), swap those two axes, flatten back. A channels_last input stays
    /// channels_last (the shuffle runs on its NHWC view): an NCHW result would hand the next blocks, and their BatchNorms'
    /// gradients, a second memory format, and libtorch's BatchNorm backward takes a serial loop when its input and
    /// gradient differ in format (RESULTS.md, training throughput).</summary>
    public static Tensor ChannelShuffle(Tensor x, int groups)
    {
        long n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        if (MemoryFormat.IsChannelsLast(x))
            return x.permute(0, 2, 3, 1).reshape(n, h, w, groups, c / groups).transpose(3, 4).reshape(n, h, w, c).permute(0, 3, 1, 2);
        return x.view(n, groups, c / groups, h, w).transpose(1, 2).reshape(n, c, h, w);
    }
}

/// <summary>The two input BNs of a stream merge (keys b1.*, b2.*) and the channel interleave.</summary>
public sealed class StreamMergeInputs : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly BatchNorm2d b1;
    private readonly BatchNorm2d b2;

    public StreamMergeInputs(int channels) : base(nameof(StreamMergeInputs))
    {
        b1 = nn.BatchNorm2d(channels);
        b2 = nn.BatchNorm2d(channels);
        RegisterComponents();
    }

    public BatchNorm2d StreamNorm => b1;
    public BatchNorm2d PathNorm => b2;

    /// <summary>b1(stream) and b2(path), interleaved; computed as one batch norm over the interleaved inputs
    /// (<see cref="BatchNorms.ForwardInterleaved"/>), which is the same per channel and keeps the gradient whole.</summary>
    public override Tensor forward(Tensor stream, Tensor path) => BatchNorms.ForwardInterleaved(b1, b2, Interleave(stream, path));

    public GraphNode Trace(LayerGraph g, string prefix, GraphNode stream, GraphNode path) =>
        g.Interleave(g.BatchNorm(b1, prefix + "b1", stream), g.BatchNorm(b2, prefix + "b2", path));

    /// <summary>Output channel 2k = a[k], 2k+1 = b[k]; channels_last inputs give a channels_last output (as
    /// <see cref="StreamMergeStage.ChannelShuffle"/>).</summary>
    public static Tensor Interleave(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape))
            throw new ArgumentException($"stream-merge inputs differ in shape: [{string.Join(",", a.shape)}] vs [{string.Join(",", b.shape)}]");
        if (MemoryFormat.IsChannelsLast(a))
            return stack([a.permute(0, 2, 3, 1), b.permute(0, 2, 3, 1)], dim: 4).flatten(3, 4).permute(0, 3, 1, 2);
        return stack([a, b], dim: 2).flatten(1, 2);
    }
}
