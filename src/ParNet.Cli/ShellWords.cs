using System.Text.RegularExpressions;

namespace ParNet.Cli;

/// <summary>Paths and arguments in the commands we print for a user to paste (resume hints, a report's command line):
/// quoted for a POSIX shell where they need it, so `--resume /tmp/my run` is pasted as one argument.</summary>
public static partial class ShellWords
{
    public static string Quote(string word) =>
        word.Length > 0 && Plain().IsMatch(word) ? word : "'" + word.Replace("'", "'\\''") + "'";

    public static string Join(IEnumerable<string> words) => string.Join(" ", words.Select(Quote));

    [GeneratedRegex(@"^[A-Za-z0-9_./:=,@%+-]+$")]
    private static partial Regex Plain();
}
