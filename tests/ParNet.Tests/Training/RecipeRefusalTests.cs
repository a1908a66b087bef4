using ParNet.Runtime;
using ParNet.Training;

namespace ParNet.Tests.Training;

/// <summary>The recipe's refusals that name a setting name it as the API does (Recipe.MinLr), not by `parnet train`'s option
/// (--min-lr; the command's own wording is asserted in UserMessageTests).</summary>
public class RecipeRefusalTests
{
    [Theory]
    [InlineData(-1.0, 0.1, "Recipe.MinLr", "recipe fashion-mnist: the final LR (Recipe.MinLr) must be >= 0 and finite; got -1")]
    [InlineData(0.0, -1.0, "Recipe.StepGamma", "recipe fashion-mnist: the LR factor at each step (Recipe.StepGamma) must be positive and finite; got -1")]
    [InlineData(0.0, 0.0, "Recipe.StepGamma", "recipe fashion-mnist: the LR factor at each step (Recipe.StepGamma) must be positive and finite; got 0")]
    public void A_schedule_that_would_make_the_LR_negative_or_zero_is_refused_by_its_API_name(double minLr, double gamma, string setting, string message)
    {
        var e = Assert.Throws<InvalidSettingException>(() => (Recipes.FashionMnist with { MinLr = minLr, StepGamma = gamma }).Validate());
        Assert.Equal((message, setting), (e.Message, e.ParamName));
    }

    /// <summary>Every refusal of Validate is an InvalidSettingException of the member it names, so that a front end can word it.</summary>
    [Fact]
    public void Every_recipe_refusal_names_its_setting()
    {
        var r = Recipes.FashionMnist;
        var cases = new (Recipe Recipe, string Setting, string Message)[]
        {
            (r with { Lr = 0 }, "Recipe.Lr", "recipe fashion-mnist: the learning rate (Recipe.Lr) must be positive and finite; got 0"),
            (r with { Milestones = [0.5, 1.5] }, "Recipe.Milestones", "recipe fashion-mnist: a milestone (Recipe.Milestones) must be a fraction of training in (0, 1); got 1.5"),
            (r with { Milestones = [double.NaN] }, "Recipe.Milestones", "recipe fashion-mnist: a milestone (Recipe.Milestones) must be a fraction of training in (0, 1); got NaN"),
            (r with { Schedule = ScheduleKind.MultiStep }, "Recipe.Milestones",
                "recipe fashion-mnist: a multistep schedule needs milestones (Recipe.Milestones, fractions of training such as 0.3,0.6,0.8); without them the LR would never step"),
            (r with { Nesterov = true, Momentum = 0 }, "Recipe.Nesterov", "recipe fashion-mnist: Nesterov momentum (Recipe.Nesterov) needs a momentum > 0; Recipe.Momentum = 0"),
            (r with { WarmupEpochs = 9 }, "Recipe.WarmupEpochs", "recipe fashion-mnist: the warm-up epochs (Recipe.WarmupEpochs) must be in [0, 8]; got 9"),
            // NaN holds no comparison: "x < 0 or x >= 1" let it through where "x is in [0, 1)" does not
            (r with { Momentum = double.NaN }, "Recipe.Momentum", "recipe fashion-mnist: the momentum (Recipe.Momentum) must be in [0, 1); got NaN"),
            (r with { WeightDecay = double.PositiveInfinity }, "Recipe.WeightDecay", "recipe fashion-mnist: the weight decay (Recipe.WeightDecay) must be >= 0 and finite; got Infinity"),
            (r with { LabelSmoothing = double.NaN }, "Recipe.LabelSmoothing", "recipe fashion-mnist: the label smoothing (Recipe.LabelSmoothing) must be in [0, 1); got NaN"),
            (r with { EmaDecay = double.NaN }, "Recipe.EmaDecay", "recipe fashion-mnist: the EMA decay (Recipe.EmaDecay) must be in [0, 1); got NaN"),
            (r with { WarmupEpochs = double.NaN }, "Recipe.WarmupEpochs", "recipe fashion-mnist: the warm-up epochs (Recipe.WarmupEpochs) must be in [0, 8]; got NaN"),
            (r with { HeadDropout = double.NaN }, "Recipe.HeadDropout", "recipe fashion-mnist: the dropout before the classifier (Recipe.HeadDropout) must be in [0, 1); got NaN"),
            (r with { RandomErasing = double.NaN }, "Recipe.RandomErasing", "recipe fashion-mnist: the random-erasing probability (Recipe.RandomErasing) must be in [0, 1]; got NaN"),
            (r with { Lr = double.PositiveInfinity }, "Recipe.Lr", "recipe fashion-mnist: the learning rate (Recipe.Lr) must be positive and finite; got Infinity"),
        };
        foreach (var (recipe, setting, message) in cases)
        {
            var e = Assert.Throws<InvalidSettingException>(() => recipe.Validate());
            Assert.Equal((message, setting), (e.Message, e.ParamName));
        }
    }
}
