using ParNet.Runtime;
using ParNet.Training;

namespace ParNet.Tests.Training;

/// <summary>The recipe's refusals that name a setting name it as the API does (Recipe.MinLr), not by `parnet train`'s option
/// (--min-lr; the command's own wording is asserted in UserMessageTests).</summary>
public class RecipeRefusalTests
{
    [Theory]
    [InlineData(-1.0, 0.1, "Recipe.MinLr", "recipe fashion-mnist: the final LR (Recipe.MinLr) must be >= 0; got -1")]
    [InlineData(0.0, -1.0, "Recipe.StepGamma", "recipe fashion-mnist: the LR factor at each step (Recipe.StepGamma) must be positive; got -1")]
    [InlineData(0.0, 0.0, "Recipe.StepGamma", "recipe fashion-mnist: the LR factor at each step (Recipe.StepGamma) must be positive; got 0")]
    public void A_schedule_that_would_make_the_LR_negative_or_zero_is_refused_by_its_API_name(double minLr, double gamma, string setting, string message)
    {
        var e = Assert.Throws<InvalidSettingException>(() => (Recipes.FashionMnist with { MinLr = minLr, StepGamma = gamma }).Validate());
        Assert.Equal((message, setting), (e.Message, e.ParamName));
    }
}
