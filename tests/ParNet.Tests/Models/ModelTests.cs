using ParNet.Models;
using static TorchSharp.torch;

namespace ParNet.Tests.Models;

/// <summary>timm-style checks over every registered variant, plus the configuration knobs.</summary>
public class ModelTests
{
    public static TheoryData<string> Variants => new(ModelRegistry.Names);

    /// <summary>Smallest input each layout takes, so that even XL runs quickly.</summary>
    static int SmallSize(ModelConfig c) => c.InputSizeMultiple;

    [Theory]
    [MemberData(nameof(Variants))]
    public void Forward_gives_finite_logits_and_every_parameter_a_gradient(string name)
    {
        using var model = ModelRegistry.Create(name);
        var config = model.Config;
        manual_seed(0);
        using var scope = NewDisposeScope();
        model.train();
        var x = randn(2, config.InChannels, SmallSize(config), SmallSize(config));
        var logits = model.call(x);
        Assert.Equal(new long[] { 2, config.NumClasses }, logits.shape);
        Assert.True(isfinite(logits).all().item<bool>(), "non-finite logits");

        logits.square().mean().backward();
        foreach (var (key, p) in model.named_parameters())
        {
            Assert.True(p.grad is not null, $"{name}: {key} got no gradient");
            Assert.True(isfinite(p.grad!).all().item<bool>(), $"{name}: {key} has a non-finite gradient");
            Assert.True(p.grad!.abs().sum().item<float>() > 0, $"{name}: {key} has an all-zero gradient");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Number_of_streams_is_a_knob(int streams)
    {
        var config = new ModelConfig
        {
            Planes = Enumerable.Range(0, streams).Select(i => 8 << i).ToArray(),
            FinalWidth = 32,
            BlocksPerStream = Enumerable.Repeat(2, streams).ToArray(),
            NumClasses = 5,
        };
        using var model = new ParNetModel(config);
        using var scope = NewDisposeScope();
        model.eval();
        int size = config.InputSizeMultiple * 2;
        var logits = model.call(randn(1, 3, size, size));
        Assert.Equal(new long[] { 1, 5 }, logits.shape);
        Assert.Equal(streams, model.state_dict().Keys.Where(k => k.StartsWith("streams.")).Select(k => k.Split('.')[1]).Distinct().Count());
    }

    [Fact]
    public void Without_SSE_the_stream_blocks_have_no_gate()
    {
        using var with = ModelRegistry.Create("parnet_cifar_small");
        using var without = ModelFactory.Create(with.Config with { UseSse = false });
        Assert.Contains(with.state_dict().Keys, k => k.StartsWith("streams.") && k.Contains(".se."));
        Assert.DoesNotContain(without.state_dict().Keys, k => k.StartsWith("streams.") && k.Contains(".se."));
        // downsampling gates are not SSE: they stay
        Assert.Contains(without.state_dict().Keys, k => k.StartsWith("inits.") && k.Contains(".se."));
    }

    [Fact]
    public void ReLU_and_SiLU_models_share_weights_but_not_outputs()
    {
        var silu = OfficialParityTests.TinyConfig;
        using var a = new ParNetModel(silu);
        using var b = new ParNetModel(silu with { Activation = ActivationKind.ReLU });
        ParNet.Weights.StateDict.Load(b, a.state_dict());
        a.eval(); b.eval();
        using var scope = NewDisposeScope();
        var x = randn(1, 3, 64, 64);
        Assert.False(allclose(a.call(x), b.call(x)), "activation made no difference");
    }

    [Fact]
    public void Grey_input_models_take_one_channel()
    {
        using var model = ModelFactory.Create(ModelRegistry.Get("parnet_cifar_small") with { InChannels = 1 });
        using var scope = NewDisposeScope();
        model.eval();
        Assert.Equal(new long[] { 3, 10 }, model.call(randn(3, 1, 32, 32)).shape);
        var e = Assert.Throws<ArgumentException>(() => model.call(randn(3, 3, 32, 32)));
        Assert.Contains("expects 1 input channel(s); got 3", e.Message);
    }

    [Theory]
    [InlineData(100)]
    [InlineData(230)]
    public void Sizes_that_a_stride_2_block_cannot_halve_are_rejected(int size)
    {
        using var model = new ParNetModel(OfficialParityTests.TinyConfig);
        var e = Assert.Throws<ArgumentException>(() => model.call(zeros(1, 3, size, size)));
        Assert.Contains("multiples of 32", e.Message);
    }

    public static TheoryData<ModelConfig, string> BadConfigs => new()
    {
        { ModelRegistry.Get("parnet_s") with { Planes = [] }, "Planes must list 1 to 4" },
        { ModelRegistry.Get("parnet_s") with { Planes = [8, 8, 8, 8, 8], BlocksPerStream = [1, 1, 1, 1, 1] }, "Planes must list 1 to 4" },
        { ModelRegistry.Get("parnet_s") with { Planes = [96, 0, 384] }, "every entry of Planes must be positive" },
        { ModelRegistry.Get("parnet_s") with { BlocksPerStream = [4, 5] }, "BlocksPerStream must have one entry per stream (3)" },
        { ModelRegistry.Get("parnet_s") with { BlocksPerStream = [4, -1, 5] }, "BlocksPerStream entries must be >= 0" },
        { ModelRegistry.Get("parnet_s") with { NumClasses = 0 }, "NumClasses must be positive" },
        { ModelRegistry.Get("parnet_s") with { InChannels = 0 }, "InChannels must be positive" },
        { ModelRegistry.Get("parnet_s") with { HeadDropout = 1.0 }, "HeadDropout must be in [0, 1)" },
        { ModelRegistry.Get("parnet_s") with { BlockDropout = -0.1 }, "BlockDropout must be in [0, 1)" },
        { ModelRegistry.Get("parnet_s") with { HeadDropout = double.NaN }, "HeadDropout must be in [0, 1); got NaN" },   // no comparison holds for NaN
        { ModelRegistry.Get("parnet_s") with { BlockDropout = double.NaN }, "BlockDropout must be in [0, 1); got NaN" },
        { ModelRegistry.Get("parnet_s") with { FinalWidth = 0 }, "FinalWidth must be positive" },
        { ModelRegistry.Get("resnet12_wide") with { FinalWidth = 7 }, "FinalWidth is its last stage width" },
        { ModelRegistry.Get("parnet_s") with { Planes = [96, 192, 383] }, "Planes[2] must be even" },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void Invalid_configurations_fail_at_construction_naming_the_value(ModelConfig config, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => ModelFactory.Create(config));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Configurations_round_trip_through_json_and_reject_unknown_fields()
    {
        var config = ModelRegistry.Get("parnet_cifar_medium") with { Activation = ActivationKind.ReLU, UseSse = false };
        var back = ModelConfig.FromJson(config.ToJson());
        Assert.Equal(config.ToJson(), back.ToJson());
        Assert.Equal(ActivationKind.ReLU, back.Activation);
        Assert.ThrowsAny<System.Text.Json.JsonException>(() => ModelConfig.FromJson(config.ToJson().Replace("\"UseSse\"", "\"UseSSEE\"")));
    }
}
