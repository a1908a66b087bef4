using System.Globalization;

namespace ParNet.Runtime;

/// <summary>
/// What a message calls the library's settings. The library's own messages call them as its API does (<see cref="Api"/>:
/// "StudySettings.Seeds", "StudySettings.Seeds = 0"); a front end that takes the values under names of its own (the CLI's
/// options) derives from this class and words the same messages with those names (<see cref="INamesSettings"/>), so the
/// library never learns them. A setting is named by a string: a property as Type.Member (<see cref="Of"/>), a parameter by
/// its name ("dataDir"), or with its method ("ImagePredictor.FromOnnx's config") where parameters of two methods share a name.
/// </summary>
public class SettingNames
{
    /// <summary>The API's names: what the messages themselves (<see cref="Exception.Message"/>) say.</summary>
    public static SettingNames Api { get; } = new();

    /// <summary>A property's name: Of(nameof(StudySettings), nameof(StudySettings.Seeds)) is "StudySettings.Seeds".</summary>
    public static string Of(string type, string member) => $"{type}.{member}";

    /// <summary>The setting itself: "StudySettings.Seeds".</summary>
    public virtual string Name(string setting) => setting;

    /// <summary>The setting given a value, or a placeholder for one ("DIR"): "StudySettings.Seeds = 0".</summary>
    public virtual string Given(string setting, object? value) => $"{Name(setting)} = {Value(setting, value)}";

    /// <summary>A value of the setting alone, as after <see cref="Given"/> ("OnnxRuntimeCuda" in "Engine = OnnxRuntime or
    /// OnnxRuntimeCuda"): a front end whose names for a setting's values differ from the API's (an enum's) words them.</summary>
    public virtual string Value(string setting, object? value) => Text(value);

    /// <summary>A value as messages show it, the same in every culture.</summary>
    protected static string Text(object? value) => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "null";
}

/// <summary>A message (an exception's, an event's) that names the library's settings: a front end can word it with its own names.</summary>
public interface INamesSettings
{
    /// <summary>The message, its settings called as <paramref name="names"/> calls them; with <see cref="SettingNames.Api"/>, the message itself.</summary>
    string WordedWith(SettingNames names);
}
