using ParNet.Analysis;
using ParNet.Models;
using ParNet.Models.Tracing;

namespace ParNet.Tests.Models;

public class RegistryTests
{
    /// <summary>Training-form counts measured by running the released code (spec, "Parameter counts").</summary>
    [Theory]
    [InlineData("parnet_s92", 20_930_936)]
    [InlineData("parnet_s", 20_983_848)]
    [InlineData("parnet_m", 38_953_256)]
    [InlineData("parnet_l", 60_180_008)]
    [InlineData("parnet_xl", 93_176_168)]
    public void Training_form_parameter_counts_equal_the_released_code(string name, long expected)
    {
        using var model = ModelRegistry.Create(name);
        Assert.Equal(expected, ModelSummary.CountTrainableParameters(model));
    }

    [Fact]
    public void Writing_into_a_configuration_changes_neither_the_registry_nor_a_built_model()
    {
        // configurations are records whose arrays were shared: one write into a model's Config.Planes changed the
        // registered variant for every later Create in the process
        using var first = ModelRegistry.Create("parnet_cifar_small");
        first.Config.Planes[0] = 16;
        ModelRegistry.Get("parnet_cifar_small").BlocksPerStream[0] = 9;
        Assert.Equal([32, 64, 128], ModelRegistry.Get("parnet_cifar_small").Planes);
        Assert.Equal([3, 4, 4], ModelRegistry.Get("parnet_cifar_small").BlocksPerStream);
        using var second = ModelRegistry.Create("parnet_cifar_small");
        Assert.Equal(32, second.FeatureInfo[0].Channels);

        var config = new ModelConfig { Planes = [8, 16], FinalWidth = 32, BlocksPerStream = [1, 1], NumClasses = 2 };
        using var model = ModelFactory.Create(config);
        config.Planes[1] = 64;
        Assert.Equal([8, 16], model.Config.Planes);   // what the network was built with
    }

    [Fact]
    public void Every_registered_ParNet_and_ResNet12_Wide_has_depth_12()
    {
        foreach (var name in ModelRegistry.Names)
        {
            using var model = ModelRegistry.Create(name);
            Assert.True(ModelSummary.Of(model, model.Config.DefaultImageSize).Depth == 12, $"{name}: depth is not 12");
        }
    }

    /// <summary>Table 11: depth follows the blocks per stream; the longest path runs through stream 3.</summary>
    [Theory]
    [InlineData(new[] { 1, 2, 2 }, 9)]
    [InlineData(new[] { 4, 5, 5 }, 12)]
    [InlineData(new[] { 7, 8, 8 }, 15)]
    public void Depth_comes_from_the_blocks_per_stream(int[] blocks, int depth)
    {
        using var model = ModelFactory.Create(ModelRegistry.Get("parnet_s") with { BlocksPerStream = blocks });
        Assert.Equal(depth, ModelSummary.Of(model, 224).Depth);
    }

    /// <summary>Without stream 0's blocks the longest path is still the one through stream 3.</summary>
    [Fact]
    public void Depth_counts_parallel_branches_once_and_takes_the_longest_path()
    {
        using var model = ModelFactory.Create(ModelRegistry.Get("parnet_s") with { BlocksPerStream = [0, 5, 8] });
        // stem 2 + inits.1 + inits.2 = 4, stream 3: 8 blocks -> 12, combine 13, wide 14, fc 15
        Assert.Equal(15, ModelSummary.Of(model, 224).Depth);
    }

    [Fact]
    public void Multiply_adds_of_a_conv_layer_match_the_hand_count()
    {
        using var block = new ParNet.Models.Blocks.ConvBn(3, 4, kernel: 3, stride: 2);
        var g = new LayerGraph();
        block.Trace(g, "", g.Input(3, 8, 8));
        Assert.Equal(new long[] { 4, 4, 4 }, g.Output.Shape);
        Assert.Equal(4L * 4 * 4 * (3 * 3 * 3), g.MultiplyAdds());   // outputs x (Cin x k x k)
    }

    /// <summary>Stage shapes of ParNet-S at 224: stream resolutions 56/28/14, 7x7 before the head (spec table).</summary>
    [Fact]
    public void Stage_shapes_follow_the_spec_layout()
    {
        using var model = ModelRegistry.Create("parnet_s");
        var stages = ModelSummary.Of(model, 224).Stages.ToDictionary(s => s.Stage, s => s.Shape);
        Assert.Equal(new long[] { 96, 56, 56 }, stages["streams.0"]);
        Assert.Equal(new long[] { 192, 28, 28 }, stages["streams.1"]);
        Assert.Equal(new long[] { 384, 14, 14 }, stages["streams.2"]);
        Assert.Equal(new long[] { 1280, 7, 7 }, stages["combine"]);
        Assert.Equal(new long[] { 1000 }, stages["head"]);
    }

    /// <summary>Paper section 3.3: the CIFAR ParNets have 1.3M, 15.5M and 35M parameters (fused); within 10%.</summary>
    [Theory]
    [InlineData("parnet_cifar_small", 1.3e6)]
    [InlineData("parnet_cifar_medium", 15.5e6)]
    [InlineData("parnet_cifar_large", 35e6)]
    public void CIFAR_layouts_land_near_the_paper_sizes(string name, double paper)
    {
        using var fused = ParNet.Fusion.ParNetFuser.CreateFused(ModelRegistry.Get(name));
        long count = ModelSummary.CountTrainableParameters(fused);
        Assert.True(Math.Abs(count - paper) <= 0.1 * paper, $"{name}: {count:N0} fused parameters, paper {paper:N0}");
    }

    /// <summary>A 4-stream ImageNet-layout network (Table 10's widest) halves its maps six times: its default side was 224,
    /// which it refuses ("multiples of 64 ...; got 224x224", blaming an --image-size nobody gave: audit of session 36).</summary>
    [Fact]
    public void The_default_side_is_one_the_model_takes()
    {
        var four = new ModelConfig { Name = "four", Planes = [8, 8, 8, 8], FinalWidth = 16, BlocksPerStream = [1, 1, 1, 1], NumClasses = 4 };
        Assert.Equal(256, four.DefaultImageSize);
        four.CheckImageSize(four.DefaultImageSize, four.DefaultImageSize);
        Assert.Equal(224, ModelRegistry.Get("parnet_s").DefaultImageSize);
        Assert.Equal(32, (four with { Layout = Layout.Cifar }).DefaultImageSize);
        foreach (var name in ModelRegistry.Names)
        {
            var config = ModelRegistry.Get(name);
            config.CheckImageSize(config.DefaultImageSize, config.DefaultImageSize);
        }
    }
}
