using ParNet.Models;
using ParNet.Training;

namespace ParNet.Tests.Training;

public class RecipeNetworkTests
{
    /// <summary>Only the CLI applied a recipe's width, channels and dropouts; a library user (the loader bench among them)
    /// built the registry's width-32 network for the width-16 recipe (style review, session 29).</summary>
    [Fact]
    public void The_fashion_mnist_recipe_builds_the_main_jobs_network()
    {
        var network = Recipes.FashionMnist.Network(numClasses: 10, inChannels: 1);
        Assert.Equal("parnet_cifar_small_w16", network.Name);
        Assert.Equal([16, 32, 64], network.Planes);
        Assert.Equal(64, network.FinalWidth);
        Assert.Equal((10, 1), (network.NumClasses, network.InChannels));
        Assert.Equal((0.0, 0.0), (network.HeadDropout, network.BlockDropout));   // the recipe's, not the registry's 0.2
        using var model = ModelFactory.Create(network);
        Assert.Equal(349_978, ParNet.Analysis.ModelSummary.CountTrainableParameters(model));   // train-bench's and the authors' count (RESULTS.md)
    }

    [Fact]
    public void A_null_model_name_is_an_argument_null_error_not_an_unknown_model()
    {
        Assert.Equal("name", Assert.Throws<ArgumentNullException>(() => ModelRegistry.Get(null!)).ParamName);
    }

    [Fact]
    public void A_width_applies_to_the_CIFAR_layout_only()
    {
        Assert.Equal([8, 16, 32], ModelRegistry.Get("parnet_cifar_small").WithCifarWidth(8).Planes);
        Assert.Equal("parnet_s: a width applies to CIFAR-layout models (planes [W, 2W, 4W])",
                     Assert.Throws<ArgumentException>(() => ModelRegistry.Get("parnet_s").WithCifarWidth(8)).Message);
    }
}
