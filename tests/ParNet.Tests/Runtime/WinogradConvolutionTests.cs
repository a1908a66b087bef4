using ParNet.Inference;
using ParNet.Fusion;
using ParNet.Runtime;
using ParNet.Tests.Fusion;
using ParNet.Tests.Models;
using ParNet.Models.Blocks;
using TorchSharp.PyBridge;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ParNet.Tests.Runtime;

/// <summary>
/// Winograd F(4x4, 3x3) against the direct convolution in float64, and a whole fused model under a
/// <see cref="WinogradPlan"/> against the authors' fused logits (tests/fixtures). Every machine CI runs on has AVX2 and FMA
/// (both CPU kinds of environment.md); a CPU without them fails these tests with PlatformNotSupportedException, not a skip.
/// </summary>
public class WinogradConvolutionTests
{
    /// <summary>Sizes that are not multiples of 4 (cut tiles at the right and bottom edges), batches of several images,
    /// two groups (ParNet's fusion blocks), and ParNet-S's first stream (96 channels at 56x56).</summary>
    [Theory]
    [InlineData(1, 8, 16, 14, 14, 1)]
    [InlineData(3, 16, 8, 7, 5, 1)]
    [InlineData(2, 32, 48, 9, 12, 2)]
    [InlineData(1, 96, 96, 56, 56, 1)]
    public void Convolution_matches_the_direct_one_in_float64(int n, int c, int k, int h, int w, int groups)
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        var x = randn(n, c, h, w);
        var weight = randn(k, c / groups, 3, 3) / Math.Sqrt(9.0 * c / groups);
        var bias = randn(k);
        var reference = nn.functional.conv2d(x.to(float64), weight.to(float64), bias.to(float64), padding: [1, 1], groups: groups).to(float32);

        using var u = WinogradConvolution.TransformWeight(weight, groups);
        var y = WinogradConvolution.Convolve(MemoryFormat.ToChannelsLast(x), u, bias);

        Assert.Equal(reference.shape, y.shape);
        Assert.True(MemoryFormat.IsChannelsLast(y));
        double error = FusionTestSupport.RelativeL2(y, reference);
        Assert.True(error <= 1e-5, $"relative L2 error {error:E3}");
    }

    [Fact]
    public async Task Convolutions_called_from_two_threads_at_once_each_get_their_own_answer()
    {
        // what `serve` does with two model instances: each worker's loops start their own OpenMP team
        using var scope = NewDisposeScope();
        manual_seed(13);
        var inputs = new[] { randn(2, 32, 20, 20), randn(2, 32, 20, 20) };
        var weight = randn(32, 32, 3, 3) / 17.0;
        var bias = randn(32);
        var references = inputs.Select(x => nn.functional.conv2d(x.to(float64), weight.to(float64), bias.to(float64), padding: [1, 1]).to(float32)).ToArray();
        using var u = WinogradConvolution.TransformWeight(weight, 1);
        var errors = await Task.WhenAll(Enumerable.Range(0, 2).Select(i => Task.Run(() =>
        {
            using var threadScope = NewDisposeScope();
            var x = MemoryFormat.ToChannelsLast(inputs[i]);
            return Enumerable.Range(0, 20).Max(_ => FusionTestSupport.RelativeL2(WinogradConvolution.Convolve(x, u, bias), references[i]));
        })));
        Assert.All(errors, e => Assert.True(e <= 1e-5, $"relative L2 error {e:E3}"));
    }

    [Fact]
    public void A_batch_in_chunks_gives_what_it_gives_whole()
    {
        using var scope = NewDisposeScope();
        manual_seed(12);
        var x = randn(5, 16, 9, 7);
        var weight = randn(24, 16, 3, 3) / 12.0;
        var bias = randn(24);
        var reference = nn.functional.conv2d(x.to(float64), weight.to(float64), bias.to(float64), padding: [1, 1]).to(float32);
        using var u = WinogradConvolution.TransformWeight(weight, 1);
        var xLast = MemoryFormat.ToChannelsLast(x);
        long perImage = 36L * 3 * 2 * 32;   // the tiles of one 9x7 map (3 x 2), 24 output channels padded to two panels of 16
        foreach (long limit in new[] { WinogradConvolution.MaxScratchElements, 2 * perImage, 1 })   // whole; chunks of 2, 2, 1; one image each
        {
            var y = WinogradConvolution.Convolve(xLast, u, bias, maxScratchElements: limit);
            double error = FusionTestSupport.RelativeL2(y, reference);
            Assert.True(error <= 1e-5, $"limit {limit}: relative L2 error {error:E3}");
            for (int i = 0; i < 5; i++)   // every image written, none left as the uninitialized output was
                Assert.True(FusionTestSupport.RelativeL2(y.narrow(0, i, 1), reference.narrow(0, i, 1)) <= 1e-5, $"limit {limit}, image {i}");
        }
    }

    [Fact]
    public void Fused_tiny_model_under_a_plan_reproduces_the_official_fused_logits()
    {
        using var trained = OfficialParityTests.TrainedTinyModel();
        using var fused = ParNetFuser.Fuse(trained);
        var io = Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"));
        MemoryFormat.ToChannelsLast(fused);
        using var noGrad = no_grad();
        var input = MemoryFormat.ToChannelsLast(io["input"]);
        using var direct = fused.call(input);

        using (var plan = WinogradPlan.For(fused))
        {
            // the tiny model's 3x3 stride-1 convs: 4 + 5 + 5 stream blocks (planes 16, 32, 64) and combine's fusion block
            // (2 x 64 -> 64 in 2 groups); every other conv has stride 2
            Assert.Equal(15, plan.Convolutions);
            using var logits = fused.call(input);
            Assert.Equal(15, plan.Calls);
            double error = FusionTestSupport.RelativeL2(logits, io["logits_fused"]);
            Assert.True(error <= 1e-5, $"relative L2 error {error:E3}");
            Assert.False(FusionTestSupport.Same(logits, direct));   // Winograd rounds differently: the planned path ran
            // one image: the stream blocks hand their batch-1 shift to the conv as its bias (a view at an offset, too)
            using var second = fused.call(input.narrow(0, 1, 1));
            Assert.Equal(30, plan.Calls);
            error = FusionTestSupport.RelativeL2(second, io["logits_fused"].narrow(0, 1, 1));
            Assert.True(error <= 1e-5, $"batch of one: relative L2 error {error:E3}");
        }
        using var after = fused.call(input);
        Assert.True(FusionTestSupport.Same(after, direct));         // disposed: the direct convs again
    }

    [Fact]
    public void With_autograd_or_an_NCHW_input_a_planned_conv_runs_directly()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        var conv = nn.Conv2d(16, 16, 3, padding: 1);
        var x = randn(2, 16, 10, 10);
        var xLast = MemoryFormat.ToChannelsLast(x);
        Tensor direct, directLast;
        using (no_grad()) { direct = conv.call(x); directLast = conv.call(xLast); }

        using var plan = WinogradPlan.For(conv);
        Assert.Equal(1, plan.Convolutions);
        var withGrad = Convolutions.Apply(conv, xLast);
        Assert.True(withGrad.requires_grad);                         // autograd: the direct conv, differentiable
        Assert.True(FusionTestSupport.Same(withGrad.detach(), directLast));
        using var noGrad = no_grad();
        Assert.True(FusionTestSupport.Same(Convolutions.Apply(conv, x), direct));   // NCHW input
        var planned = Convolutions.Apply(conv, xLast);
        Assert.False(FusionTestSupport.Same(planned, directLast));
        Assert.True(FusionTestSupport.RelativeL2(planned, directLast) <= 1e-5);
    }

    [Fact]
    public void A_conv_whose_weight_was_replaced_after_planning_runs_directly()
    {
        using var scope = NewDisposeScope();
        manual_seed(6);
        var conv = nn.Conv2d(8, 8, 3, padding: 1);
        var x = MemoryFormat.ToChannelsLast(randn(1, 8, 6, 6));
        using var plan = WinogradPlan.For(conv);
        using var noGrad = no_grad();
        Convolutions.Apply(conv, x);
        Assert.Equal(1, plan.Calls);
        conv.weight = new TorchSharp.Modules.Parameter(randn(8, 8, 3, 3));   // not the weight the plan transformed
        var y = Convolutions.Apply(conv, x);
        Assert.Equal(1, plan.Calls);
        Assert.True(FusionTestSupport.RelativeL2(y, nn.functional.conv2d(x, conv.weight!, conv.bias, padding: [1, 1])) <= 1e-6);
    }

    [Fact]
    public void A_predictor_for_torch_winograd_runs_its_convs_as_winograd_and_answers_as_torch()
    {
        var info = new ParNet.Export.DeploymentInfo { Model = OfficialParityTests.TinyConfig, Dataset = "imagenet" };
        using var winograd = ParNet.Inference.ImagePredictor.ForTorchWinograd(ParNetFuser.Fuse(OfficialParityTests.TrainedTinyModel()), info);
        using var torch = ParNet.Inference.ImagePredictor.ForTorch(ParNetFuser.Fuse(OfficialParityTests.TrainedTinyModel()), info);
        manual_seed(8);
        var image = new ParNet.Data.ImageF(randn(3 * 64 * 64).data<float>().ToArray(), 3, 64, 64);
        var (p, q) = (winograd.Probabilities(image), torch.Probabilities(image));
        Assert.Equal(PredictorEngine.TorchWinograd, winograd.Engine);
        Assert.Equal(15, winograd.Winograd!.Calls);
        Assert.Null(torch.Winograd);
        for (int i = 0; i < p.Length; i++) Assert.Equal(q[i], p[i], 5);
    }

    /// <summary>A model none of whose convs Winograd computes (widths not multiples of 8) runs as torch under torch-winograd,
    /// and the predictor says torch: serve's start line and /readyz said "on torch-winograd" beside its warning that the
    /// model runs as torch.</summary>
    [Fact]
    public void A_torch_winograd_predictor_with_no_conv_in_its_plan_names_its_engine_torch()
    {
        var config = ParNet.Models.ModelRegistry.Get("parnet_cifar_small") with
        {
            Name = "odd", Planes = [12, 20, 36], FinalWidth = 36, BlocksPerStream = [1, 1, 1], NumClasses = 10, InChannels = 1,
        };
        var info = new ParNet.Export.DeploymentInfo { Model = config, Dataset = "fashion-mnist" };
        using var predictor = ParNet.Inference.ImagePredictor.ForTorchWinograd(ParNetFuser.Fuse(ParNet.Models.ModelFactory.Create(config)), info);
        Assert.Equal(0, predictor.Winograd!.Convolutions);
        Assert.Equal(PredictorEngine.Torch, predictor.Engine);
        Assert.Equal("torch", predictor.EngineName);
    }

    [Fact]
    public void Convolve_refuses_arguments_its_pointers_would_run_past()
    {
        using var scope = NewDisposeScope();
        using var u = WinogradConvolution.TransformWeight(randn(16, 8, 3, 3), 1);
        var x = MemoryFormat.ToChannelsLast(randn(1, 8, 5, 5));
        Assert.Throws<ArgumentException>(() => WinogradConvolution.Convolve(MemoryFormat.ToChannelsLast(randn(1, 16, 5, 5)), u, zeros(16)));
        Assert.Throws<ArgumentException>(() => WinogradConvolution.Convolve(x, u, zeros(8)));                  // bias of 8 for 16 outputs
        Assert.Throws<ArgumentException>(() => WinogradConvolution.Convolve(x, u, zeros(16, ScalarType.Float64)));
        Assert.Throws<ArgumentException>(() => WinogradConvolution.Convolve(x.to(ScalarType.Float64), u, zeros(16)));
        var misdescribed = new WinogradConvolution.Weight(u.Packed, 16, 2);   // packed for one group, said to be two
        Assert.Throws<ArgumentException>(() => WinogradConvolution.Convolve(x, misdescribed, zeros(16)));
        Assert.Throws<ArgumentException>(() => WinogradConvolution.Convolve(x, u with { OutChannels = 24 }, zeros(24)));   // two panels' worth
        Assert.Equal([1, 16, 5, 5], WinogradConvolution.Convolve(x, u, zeros(16)).shape);
    }

    [Fact]
    public void A_second_plan_for_the_same_convs_is_refused_until_the_first_is_disposed()
    {
        using var conv = nn.Conv2d(8, 8, 3, padding: 1);
        var first = WinogradPlan.For(conv);
        var e = Assert.Throws<InvalidOperationException>(() => WinogradPlan.For(conv));
        Assert.Contains("already in a live Winograd plan", e.Message);
        first.Dispose();
        using var second = WinogradPlan.For(conv);
        Assert.Equal(1, second.Convolutions);
    }

    [Fact]
    public void Only_3x3_stride_1_convs_with_whole_vectors_of_channels_are_planned()
    {
        Assert.True(WinogradConvolution.Applies(nn.Conv2d(96, 96, 3, padding: 1)));
        Assert.True(WinogradConvolution.Applies(nn.Conv2d(32, 16, 3, padding: 1, groups: 2)));
        Assert.False(WinogradConvolution.Applies(nn.Conv2d(96, 96, 3, stride: 2, padding: 1)));
        Assert.False(WinogradConvolution.Applies(nn.Conv2d(96, 96, 1)));
        Assert.False(WinogradConvolution.Applies(nn.Conv2d(92, 92, 3, padding: 1)));     // the released S92 width: 92 = 11.5 vectors
        Assert.False(WinogradConvolution.Applies(nn.Conv2d(3, 64, 3, padding: 1)));      // an image
        Assert.False(WinogradConvolution.Applies(nn.Conv2d(16, 16, 3, padding: 1, dilation: 2)));
        Assert.False(WinogradConvolution.Applies(nn.Conv2d(16, 16, 3, padding: 1, padding_mode: TorchSharp.PaddingModes.Reflect)));
    }
}
