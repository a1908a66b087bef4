using ParNet.Cli;
using ParNet.Runtime;
using ParNet.Training;

namespace ParNet.Tests.Cli;

/// <summary>How the CLI words the library's messages: each setting by the option that sets it.</summary>
public class OptionNamesTests
{
    [Fact]
    public void A_setting_is_named_by_its_option_and_given_a_value_as_on_the_command_line()
    {
        var names = OptionNames.Cli;
        Assert.Equal("--seeds", names.Name("StudySettings.Seeds"));
        Assert.Equal("--seeds 0", names.Given("StudySettings.Seeds", 0));
        Assert.Equal("--data DIR", names.Given("dataDir", "DIR"));
    }

    [Fact]
    public void A_setting_no_option_sets_keeps_its_API_name()
    {
        Assert.Equal("Recipe.WarmupStartFactor", OptionNames.Cli.Name("Recipe.WarmupStartFactor"));   // a recipe's, no option of train sets it
        Assert.Equal("Recipe.WarmupStartFactor = 1", OptionNames.Cli.Given("Recipe.WarmupStartFactor", 1));
    }

    [Fact]
    public void An_exception_that_names_settings_is_worded_with_the_options_and_any_other_keeps_its_message()
    {
        var refusal = Assert.Throws<InvalidSettingException>(() => (Recipes.FashionMnist with { MinLr = -1 }).Validate());
        Assert.Equal("recipe fashion-mnist: the final LR (--min-lr) must be >= 0 and finite; got -1", OptionNames.Worded(refusal));
        Assert.Equal("a plain refusal", OptionNames.Worded(new ArgumentException("a plain refusal")));
        Assert.Equal("the run has already trained its 3 epochs: nothing to do (resume with --epochs N, more than 3, to train further)",
                     new AlreadyTrainedEvent(3).WordedWith(OptionNames.Cli));
    }
}
