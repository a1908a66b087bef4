using ParNet.Inference;
using ParNet.Models;
using ParNet.Models.Tracing;
using static TorchSharp.torch;

namespace ParNet.Tests.Models;

/// <summary>
/// Each block of a model runs in a dispose scope of its own (Blocks/WrappedBlock): its branches', batch norms', gate's and
/// sums' maps are freed as it ends, not held until the caller's scope ends, which cut what a pass without gradients holds
/// at its peak about 5x for ParNet-S at 224 (`bench/ParNet.Bench -- memory`: 127.5-128.1 -> 23.3-26.8 MB an image). The trace records
/// the same scopes, so that ForwardMemory reads a pass's memory off it.
/// </summary>
public class BlockScopeTests
{
    [Fact]
    public void A_pass_without_gradients_holds_one_blocks_maps_at_a_time_not_every_blocks()
    {
        using var model = new ParNetModel(OfficialParityTests.TinyConfig);   // 22 blocks: 14 in the streams, 8 more
        model.eval();
        using var noGrad = no_grad();
        using var x = randn(2, 3, 64, 64);
        long before = Live(), most = 0;
        // the tensors alive on this thread as each conv ends, through the whole pass
        foreach (var conv in model.modules().OfType<TorchSharp.Modules.Conv2d>())
            conv.register_forward_hook((_, _, output) => { most = Math.Max(most, Live() - before); return output; });
        using (NewDisposeScope())
        {
            var logits = model.call(x);
            Assert.Equal([2L, 1000L], logits.shape);
        }
        Assert.Equal(before, Live());
        // each block makes 7-12 tensors (branches, batch norms, gate, products, sums) and hands on one: 38 at most with the
        // blocks' scopes, 397 when every block's tensors were held until the pass ended
        Assert.InRange(most, 10, 80);
    }

    static long Live() => TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;

    [Fact]
    public void The_trace_frees_a_scopes_tensors_as_it_ends_all_but_its_output()
    {
        var g = new LayerGraph();
        var x = g.Input(2, 4, 4);   // 128 bytes an image, as every node below
        GraphNode first = null!, sum = null!;
        var y = g.Scoped(() =>
        {
            first = g.Scale(x, 2);
            sum = g.Sum(first, g.Scale(x, 3));
            return g.Activation(ActivationKind.ReLU, sum);
        });
        var z = g.Sum(y, x);
        Assert.Equal(y.Id, g.FreedAfter(first));   // freed once the block's output is made
        Assert.Equal(y.Id, g.FreedAfter(sum));
        Assert.Null(g.FreedAfter(y));              // handed on: lives until the pass ends
        Assert.Null(g.FreedAfter(x));
        Assert.Null(g.FreedAfter(z));
        // the peak is inside the block: the input, two scaled maps, their sum and its activation, 5 x 128 bytes
        Assert.Equal(640, ForwardMemory.TensorsAliveAtOnce(g).BytesPerImage);
        // no conv here: the lower bound counts the input tensor and the batch's input array
        Assert.Equal(256, ForwardMemory.LayerOutputsAliveAtOnce(g).BytesPerImage);
    }
}
