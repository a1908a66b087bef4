namespace ParNet.Cli;

/// <summary>Bad input from the user: reported as one line, exit code 2, no stack trace.</summary>
public sealed class UsageException(string message) : Exception(message)
{
    /// <summary>
    /// Runs a validating library call on user input; its <see cref="ArgumentException"/> is the user's error, worded with
    /// the options that set what it names (<see cref="OptionNames"/>).
    /// Only for calls whose arguments come from the command line or the user's files: elsewhere an
    /// ArgumentException is a bug and keeps its stack trace.
    /// </summary>
    public static T Wrap<T>(Func<T> call, string? context = null)
    {
        try { return call(); }
        catch (ArgumentException e)
        {
            string message = OptionNames.Worded(e);
            throw new UsageException(context is null ? message : $"{context}: {message}");
        }
    }

    public static void Wrap(Action call, string? context = null) => Wrap<bool>(() => { call(); return true; }, context);

    /// <summary>
    /// As <see cref="Wrap{T}"/>, for calls that also reach code whose ArgumentExceptions would be bugs (loading, opening an
    /// engine): only the library's refusal of a setting (<see cref="ParNet.Runtime.InvalidSettingException"/>) is the user's
    /// error, worded by option; any other keeps its stack trace.
    /// </summary>
    public static T WrapSettings<T>(Func<T> call)
    {
        try { return call(); }
        catch (ParNet.Runtime.InvalidSettingException e) { throw new UsageException(OptionNames.Worded(e)); }
    }

    public static void WrapSettings(Action call) => WrapSettings<bool>(() => { call(); return true; });
}
