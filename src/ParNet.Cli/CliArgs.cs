using System.Globalization;

namespace ParNet.Cli;

/// <summary>
/// `--name value`, `--name=value`, bare `--flag` and positional arguments. Tokens are interpreted as
/// the command reads them: a switch read with <see cref="Flag"/> never swallows the next token unless
/// it is true/false (so `--json a.png` keeps the image), an option read with <see cref="String"/> takes
/// the next one. Whatever no read consumed is an error (<see cref="ThrowIfUnused"/>): a typo must not be
/// silently ignored. Read every option before <see cref="Positional"/>.
/// </summary>
public sealed class CliArgs
{
    readonly List<string> _tokens;
    readonly bool[] _consumed;
    bool _positionalRead;

    CliArgs(List<string> tokens)
    {
        _tokens = tokens;
        _consumed = new bool[tokens.Count];
    }

    public static CliArgs Parse(IEnumerable<string> argv) => new(argv.ToList());

    static bool IsNumber(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    static bool IsOption(string s) => s.StartsWith("-", StringComparison.Ordinal) && s != "-" && !IsNumber(s);

    /// <summary>Indices of `--name` and `--name=...` (also `-name`).</summary>
    IEnumerable<int> Occurrences(string name) => Enumerable.Range(0, _tokens.Count).Where(i =>
        IsOption(_tokens[i]) && (_tokens[i].TrimStart('-') == name || _tokens[i].TrimStart('-').StartsWith(name + "=", StringComparison.Ordinal)));

    static string? InlineValue(string token)
    {
        int eq = token.IndexOf('=');
        return eq >= 0 ? token[(eq + 1)..] : null;
    }

    public bool Has(string name) => Occurrences(name).Any();

    /// <summary>A bare switch such as `--json`; `--json false` or `--json=false` turns it off explicitly.</summary>
    public bool Flag(string name)
    {
        bool result = false;
        foreach (int i in Occurrences(name).ToList())
        {
            _consumed[i] = true;
            string? value = InlineValue(_tokens[i]);
            if (value is null && i + 1 < _tokens.Count && IsBoolWord(_tokens[i + 1]))
            {
                value = _tokens[i + 1];
                _consumed[i + 1] = true;
            }
            result = value switch
            {
                null or "true" or "1" or "yes" => true,
                "false" or "0" or "no" => false,
                _ => throw new UsageException($"--{name} is a switch; it takes no value (got '{value}')"),
            };
        }
        return result;
    }

    static bool IsBoolWord(string s) => s is "true" or "false" or "yes" or "no" or "1" or "0";

    /// <summary>The value of `--name VALUE` (the last one when repeated), or null when absent.</summary>
    public string? String(string name)
    {
        string? result = null;
        foreach (int i in Occurrences(name).ToList())
        {
            _consumed[i] = true;
            string? value = InlineValue(_tokens[i]);
            if (value is null)
            {
                if (i + 1 >= _tokens.Count || _consumed[i + 1] || IsOption(_tokens[i + 1]))
                    throw new UsageException($"--{name} needs a value");
                value = _tokens[i + 1];
                _consumed[i + 1] = true;
            }
            if (value.Length == 0) throw new UsageException($"--{name} needs a value");
            result = value;
        }
        return result;
    }

    public string Required(string name) => String(name) ?? throw new UsageException($"--{name} is required");

    public int? Int(string name) => Parse(name, s => int.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture), "an integer");

    public double? Double(string name) => Parse(name, s => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture), "a number");

    T? Parse<T>(string name, Func<string, T> parse, string what) where T : struct
    {
        string? s = String(name);
        if (s is null) return null;
        try { return parse(s); }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new UsageException($"--{name} must be {what} (got '{s}')");
        }
    }

    /// <summary>The arguments that are not options nor option values, in order.</summary>
    public List<string> Positional
    {
        get
        {
            _positionalRead = true;
            return Enumerable.Range(0, _tokens.Count).Where(i => !_consumed[i] && !IsOption(_tokens[i])).Select(i => _tokens[i]).ToList();
        }
    }

    /// <summary>Fails on options no command read, and on positional arguments a command does not take.</summary>
    public void ThrowIfUnused()
    {
        var unknown = Enumerable.Range(0, _tokens.Count).Where(i => !_consumed[i] && IsOption(_tokens[i])).Select(i => _tokens[i]).ToList();
        if (unknown.Count > 0)
            throw new UsageException($"unknown option{(unknown.Count > 1 ? "s" : "")}: {string.Join(", ", unknown)}");
        if (!_positionalRead)
        {
            var extra = Enumerable.Range(0, _tokens.Count).Where(i => !_consumed[i]).Select(i => _tokens[i]).ToList();
            if (extra.Count > 0) throw new UsageException($"unexpected argument{(extra.Count > 1 ? "s" : "")}: {string.Join(" ", extra)}");
        }
    }
}
