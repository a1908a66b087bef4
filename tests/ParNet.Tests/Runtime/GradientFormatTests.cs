using ParNet.Models;
using ParNet.Models.Blocks;
using ParNet.Runtime;
using static TorchSharp.torch;

namespace ParNet.Tests.Runtime;

/// <summary>
/// In a channels_last network every gradient should come back channels_last: libtorch's BatchNorm backward takes a
/// serial loop when its input and its gradient differ in memory format (measured: 15% of a training step of the
/// fashion-mnist network on one thread, and none of it parallel). The gradient a block hands back is read by
/// <see cref="GradientSpy"/>, an identity whose backward notes the strides it was given (a leaf's .grad would not do:
/// libtorch lays a leaf's gradient out like the leaf).
/// </summary>
public class GradientFormatTests
{
    static Tensor ChannelsLastInput(long channels, long side) => MemoryFormat.ToChannelsLast(randn(4, channels, side, side)).requires_grad_(true);

    static string GradientFormatAt(Func<Tensor, Tensor> block, long channels, long side)
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        var spy = new GradientSpy();
        var y = block(spy.Watch(ChannelsLastInput(channels, side)));
        (y * randn_like(y)).sum().backward();
        return spy.Format ?? "no gradient";
    }

    [Fact]
    public void Global_average_pooling_hands_back_a_channels_last_gradient_where_mean_does_not()
    {
        Assert.Equal("channels_last", GradientFormatAt(x => GlobalAveragePool.Apply(x), 16, 8));
        // why GlobalAveragePool exists: libtorch 2.10's mean over H, W answers NCHW (if this ever passes, it can go)
        Assert.Equal("NCHW", GradientFormatAt(x => x.mean([2, 3]), 16, 8));
    }

    [Fact]
    public void Every_block_of_the_network_hands_back_a_channels_last_gradient()
    {
        using var stream = new StreamBlock(32, ActivationKind.SiLU, useSse: true);
        using var down = new DownsamplingBlock(32, 64, stride: 2, groups: 1, ActivationKind.SiLU);
        using var grouped = new DownsamplingBlock(64, 64, stride: 2, groups: 2, ActivationKind.SiLU);
        using var head = new ClassifierHead(32, 10, dropout: 0);
        foreach (var m in new TorchSharp.torch.nn.Module[] { stream, down, grouped, head }) MemoryFormat.ToChannelsLast(m);
        Assert.Equal("channels_last", GradientFormatAt(x => stream.call(x), 32, 8));
        Assert.Equal("channels_last", GradientFormatAt(x => down.call(x), 32, 8));
        Assert.Equal("channels_last", GradientFormatAt(x => grouped.call(x), 64, 8));
        Assert.Equal("channels_last", GradientFormatAt(x => head.call(x), 32, 4));
        Assert.Equal("channels_last", GradientFormatAt(x => StreamMergeStage.ChannelShuffle(x, 2), 32, 4));
    }

    /// <summary>
    /// The stem reads a one-channel image (Fashion-MNIST), [N, 1, H, W]: the same bytes in both formats, and libtorch reads
    /// the format from the channel stride. With NCHW strides the stem's first block answered NCHW and the next block,
    /// whose 3x3 weight is channels_last, answered channels_last from its 3x3 branch and NCHW from its 1x1 branch, so that
    /// branch's BatchNorm took libtorch's serial backward (NCHW input, channels_last gradient) at full resolution.
    /// </summary>
    [Fact]
    public void A_one_channel_image_in_channels_last_keeps_the_stem_and_both_branches_of_the_next_block_channels_last()
    {
        using var scope = NewDisposeScope();
        using var stem = new DownsamplingBlock(1, 16, stride: 1, groups: 1, ActivationKind.SiLU);
        using var next = new DownsamplingBlock(16, 16, stride: 1, groups: 1, ActivationKind.SiLU);
        MemoryFormat.ToChannelsLast(stem);
        MemoryFormat.ToChannelsLast(next);
        var plain = randn(4, 1, 16, 16);
        var image = MemoryFormat.ToChannelsLast(plain);
        Assert.True(MemoryFormat.IsChannelsLast(image));
        Assert.False(MemoryFormat.IsChannelsLast(plain));
        Assert.True(image.equal(plain).all().item<bool>());   // the same image
        Assert.True(MemoryFormat.IsChannelsLast(stem.Dense.call(image)));
        Assert.True(MemoryFormat.IsChannelsLast(stem.Pointwise.call(image)));
        var h = stem.call(image);
        Assert.True(MemoryFormat.IsChannelsLast(h));
        Assert.True(MemoryFormat.IsChannelsLast(next.Dense.call(h)));
        Assert.True(MemoryFormat.IsChannelsLast(next.Pointwise.call(h)));
    }

    /// <summary>A pooled [N, C, 1, 1] is both formats, so <see cref="MemoryFormat.IsChannelsLast"/> cannot tell; the strides can:
    /// avg_pool2d's backward picks its kernel by them, and [C, 1, 1, 1] sends it down the NCHW one, which copies the whole
    /// [N, C, H, W] gradient twice (measured in every gate and the head of the fashion-mnist network before this).</summary>
    [Fact]
    public void The_gradient_reaching_a_global_pool_from_a_gate_or_the_head_has_channels_last_strides()
    {
        using var scope = NewDisposeScope();
        manual_seed(6);
        using var gateConv = nn.Conv2d(16, 16, 1, bias: false);
        using var fc = nn.Linear(16, 10);
        long[] StridesAtPool(Func<Tensor, Tensor> after)
        {
            var spy = new GradientSpy();
            var y = after(spy.Watch(GlobalAveragePool.Apply(ChannelsLastInput(16, 8))));
            (y * randn_like(y)).sum().backward();
            return spy.Strides!;
        }
        Assert.Equal([16L, 1, 16, 16], StridesAtPool(p => Convolutions.Pointwise(gateConv, p)));
        Assert.Equal([16L, 1, 16, 16], StridesAtPool(p => fc.call(p.permute(0, 2, 3, 1).flatten(1))));   // what Flat does
        // what the head did before: flatten(1) hands the pool NCHW strides
        Assert.Equal([16L, 1, 1, 1], StridesAtPool(p => fc.call(p.flatten(1))));
        // and Flat's values are the plain flatten's
        var x = ChannelsLastInput(16, 8);
        Assert.True(GlobalAveragePool.Flat(x).eq(GlobalAveragePool.Apply(x).flatten(1)).all().item<bool>());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Channel_shuffle_and_interleave_keep_the_memory_format_and_move_the_channels_as_defined(bool channelsLast)
    {
        using var scope = NewDisposeScope();
        Tensor Layout(Tensor t) => channelsLast ? MemoryFormat.ToChannelsLast(t) : t;
        // channel c of the input holds the value c everywhere, so each output channel names its source
        var a = Layout(arange(6, dtype: float32).view(1, 6, 1, 1).expand(2, 6, 3, 3).contiguous());
        var b = Layout((arange(6, dtype: float32) + 100).view(1, 6, 1, 1).expand(2, 6, 3, 3).contiguous());

        var interleaved = StreamMergeInputs.Interleave(a, b);
        Assert.Equal(channelsLast, MemoryFormat.IsChannelsLast(interleaved));
        Assert.Equal([0f, 100, 1, 101, 2, 102, 3, 103, 4, 104, 5, 105], Channels(interleaved));

        var shuffled = StreamMergeStage.ChannelShuffle(a, 2);   // (2 groups x 3) -> (3 x 2 groups)
        Assert.Equal(channelsLast, MemoryFormat.IsChannelsLast(shuffled));
        Assert.Equal([0f, 3, 1, 4, 2, 5], Channels(shuffled));
    }

    /// <summary>The value of every channel at pixel (1, 2) of image 1, after checking it is the same at every pixel.</summary>
    static float[] Channels(Tensor x)
    {
        var perChannel = x[1, .., 1, 2];
        Assert.True(x.eq(perChannel.view(1, -1, 1, 1)).all().item<bool>(), "a channel holds more than one value");
        return perChannel.data<float>().ToArray();
    }

    /// <summary>An identity whose backward records the strides of the gradient it receives.</summary>
    sealed class GradientSpy
    {
        public string? Format { get; private set; }
        public long[]? Strides { get; private set; }

        public Tensor Watch(Tensor x) => Identity.apply(x, this);

        sealed class Identity : autograd.SingleTensorFunction<Identity>
        {
            public override string Name => nameof(GradientSpy);

            public override Tensor forward(autograd.AutogradContext ctx, params object[] args)
            {
                ctx.save_data("spy", args[1]);
                return ((Tensor)args[0]).alias();
            }

            public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
            {
                var spy = (GradientSpy)ctx.get_data("spy");
                spy.Strides = grad.stride();
                spy.Format =
                    MemoryFormat.IsChannelsLast(grad) ? "channels_last" : grad.is_contiguous() ? "NCHW" : $"strides [{string.Join(", ", grad.stride())}]";
                return [grad, null!];
            }
        }
    }
}
