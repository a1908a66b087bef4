using ParNet.Fusion;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Tests.Models;
using ParNet.Weights;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ParNet.Tests.Inference;

/// <summary>Concurrent streams give the sequential model's output, for trained and fused models.</summary>
public class StreamParallelExecutorTests
{
    static Tensor Input() => Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"))["input"];

    static void AssertSameAsSequential(ParNetModel model, int? threadsPerStream)
    {
        var executor = new StreamParallelExecutor(model, threadsPerStream);
        var x = Input();
        using var noGrad = no_grad();
        using var expected = model.call(x);
        for (int run = 0; run < 3; run++)
        {
            using var actual = executor.Forward(x);
            Assert.Equal(expected.shape, actual.shape);
            double error = OfficialParityTests.RelativeL2(actual, expected);
            Assert.True(error <= 1e-6, $"run {run}: relative L2 {error:E3}");
        }
    }

    [Theory]
    [InlineData(null)]
    [InlineData(1)]
    [InlineData(0)]
    public void Trained_model_gives_the_sequential_output(int? threadsPerStream)
    {
        using var model = OfficialParityTests.TrainedTinyModel();
        AssertSameAsSequential(model, threadsPerStream);
    }

    [Fact]
    public void Fused_model_gives_the_sequential_output_and_the_official_fused_logits()
    {
        using var trained = OfficialParityTests.TrainedTinyModel();
        using var fused = ParNetFuser.Fuse(trained);
        AssertSameAsSequential(fused, null);
        var io = Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"));
        using var noGrad = no_grad();
        using var logits = new StreamParallelExecutor(fused).Forward(io["input"]);
        Assert.True(OfficialParityTests.RelativeL2(logits, io["logits_fused"]) <= 1e-5);
    }

    [Fact]
    public void Other_stream_counts_give_the_sequential_output()
    {
        var config = OfficialParityTests.TinyConfig with { Name = "four_streams", Planes = [8, 16, 16, 32], BlocksPerStream = [1, 2, 0, 2] };
        using var model = new ParNetModel(config);
        model.eval();
        manual_seed(3);
        var x = randn(2, 3, 64, 64);
        using var noGrad = no_grad();
        double error = OfficialParityTests.RelativeL2(new StreamParallelExecutor(model).Forward(x), model.call(x));
        Assert.True(error <= 1e-6, $"relative L2 {error:E3}");
    }

    [Fact]
    public void The_callers_thread_count_is_left_as_it_was()
    {
        using var model = OfficialParityTests.TrainedTinyModel();
        int before = get_num_threads();
        using var noGrad = no_grad();
        using var _ = new StreamParallelExecutor(model, threadsPerStream: 1).Forward(Input());
        Assert.Equal(before, get_num_threads());
    }

    [Fact]
    public void Workers_follow_the_callers_grad_mode()
    {
        using var model = OfficialParityTests.TrainedTinyModel();
        var executor = new StreamParallelExecutor(model);
        using (no_grad())
        {
            using var y = executor.Forward(Input());
            Assert.False(y.requires_grad);
        }
        using var z = executor.Forward(Input());
        Assert.True(z.requires_grad);
        z.sum().backward();   // the graph built on the workers reaches every parameter ...
        var parallelGrads = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone());
        model.zero_grad();
        model.call(Input()).sum().backward();
        foreach (var (name, p) in model.named_parameters())   // ... with the sequential model's gradients
        {
            double error = OfficialParityTests.RelativeL2(parallelGrads[name], p.grad!);
            Assert.True(error <= 1e-5, $"{name}: relative L2 {error:E3} between parallel and sequential gradients");
        }
    }

    [Fact]
    public void Bad_inputs_fail_before_any_worker_starts()
    {
        using var model = OfficialParityTests.TrainedTinyModel();
        Assert.Throws<ArgumentException>(() => new StreamParallelExecutor(model).Forward(zeros(1, 3, 60, 60)));
        Assert.Throws<ArgumentException>(() => new StreamParallelExecutor(model, threadsPerStream: -1));
    }
}
