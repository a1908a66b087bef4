namespace ParNet.Runtime;

/// <summary>
/// A value the library refuses for one of its settings (<see cref="ArgumentException.ParamName"/>: that setting, named as
/// <see cref="SettingNames"/> says). Its message names settings in the API's terms ("StudySettings.Seeds = 0: at least 1");
/// a front end that took the values under names of its own words the same refusal with them (<see cref="WordedWith"/>).
/// </summary>
public sealed class InvalidSettingException : ArgumentException, INamesSettings
{
    readonly Func<SettingNames, string> _describe;

    /// <param name="setting">the setting refused, as <see cref="SettingNames"/> names settings</param>
    /// <param name="describe">the refusal, given what to call the settings it names; called each time the message is read, so
    /// it shows values fixed when it was made</param>
    /// <param name="inner">the refusal this one words again (with a context), if any</param>
    public InvalidSettingException(string setting, Func<SettingNames, string> describe, Exception? inner = null) : base(null, setting, inner) =>
        _describe = describe;

    /// <summary>The usual refusal: the setting, the value it was given, and what is wrong with that value
    /// ("StudySettings.Seeds = 0: at least 1").</summary>
    public static InvalidSettingException Given(string setting, object? value, string problem) =>
        new(setting, names => $"{names.Given(setting, value)}: {problem}");

    /// <summary>The refusal in the API's terms. No "(Parameter '...')" after it, as ArgumentException adds: the message names the setting.</summary>
    public override string Message => _describe(SettingNames.Api);

    public string WordedWith(SettingNames names) => _describe(names);
}
