using ParNet.Runtime;

namespace ParNet.Tests.Runtime;

/// <summary>A refused setting: its message in the API's terms, and the same refusal worded with a front end's names.</summary>
public class InvalidSettingExceptionTests
{
    /// <summary>A front end's names: "-s" for every setting, a value after a space.</summary>
    sealed class ShortNames : SettingNames
    {
        public override string Name(string setting) => "-s";
        public override string Given(string setting, object? value) => $"-s {Text(value)}";
    }

    [Fact]
    public void The_message_names_the_setting_as_the_API_does_and_nothing_follows_it()
    {
        var e = InvalidSettingException.Given("StudySettings.Seeds", 0, "at least 1");
        Assert.Equal("StudySettings.Seeds = 0: at least 1", e.Message);   // no ArgumentException "(Parameter '...')" after it
        Assert.Equal("StudySettings.Seeds", e.ParamName);
        Assert.IsAssignableFrom<ArgumentException>(e);   // what callers that validate input already catch
    }

    [Fact]
    public void A_front_end_words_the_same_refusal_with_its_own_names()
    {
        var e = new InvalidSettingException("A.B", names => $"{names.Given("A.B", 2.5)}: too many ({names.Given("A.B", 2)} at most; see {names.Name("A.B")})");
        Assert.Equal("A.B = 2.5: too many (A.B = 2 at most; see A.B)", e.Message);
        Assert.Equal("-s 2.5: too many (-s 2 at most; see -s)", e.WordedWith(new ShortNames()));
    }
}
