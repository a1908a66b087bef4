using ParNet.Runtime;

namespace ParNet.Data;

/// <summary>A data set not where it was looked for. Its message says which setting points at the data, in the API's terms;
/// a front end words it with its own names (<see cref="WordedWith"/>).</summary>
public sealed class DataNotFoundException : DirectoryNotFoundException, INamesSettings
{
    readonly Func<SettingNames, string> _describe;

    /// <param name="describe">the message, given what to call the settings it names (called each time it is read)</param>
    public DataNotFoundException(Func<SettingNames, string> describe) => _describe = describe;

    public override string Message => _describe(SettingNames.Api);

    public string WordedWith(SettingNames names) => _describe(names);
}
