using System.Globalization;

namespace ParNet.Cli;

/// <summary>
/// `--name value`, `--name=value`, bare `--flag` and positional arguments. Every option read is marked
/// used; an option nobody read is an error (a typo must not be silently ignored).
/// </summary>
public sealed class CliArgs
{
    readonly Dictionary<string, List<string>> _options = new(StringComparer.Ordinal);
    readonly HashSet<string> _used = new(StringComparer.Ordinal);
    public List<string> Positional { get; } = new();

    public static CliArgs Parse(IEnumerable<string> argv)
    {
        var result = new CliArgs();
        var list = argv.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            string a = list[i];
            if (!a.StartsWith("-", StringComparison.Ordinal) || a == "-" || IsNumber(a))
            {
                result.Positional.Add(a);
                continue;
            }
            string name = a.TrimStart('-');
            string? value = null;
            int eq = name.IndexOf('=');
            if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
            else if (i + 1 < list.Count && (!list[i + 1].StartsWith("-", StringComparison.Ordinal) || IsNumber(list[i + 1])))
                value = list[++i];
            if (!result._options.TryGetValue(name, out var values)) result._options[name] = values = new();
            values.Add(value ?? "");
        }
        return result;
    }

    static bool IsNumber(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    public bool Has(string name) { _used.Add(name); return _options.ContainsKey(name); }

    /// <summary>A bare switch such as `--json`. `--json false` turns it off explicitly.</summary>
    public bool Flag(string name)
    {
        if (!Has(name)) return false;
        string v = _options[name][^1];
        return v is "" or "true" or "1" or "yes" ? true
             : v is "false" or "0" or "no" ? false
             : throw new UsageException($"--{name} is a switch; it takes no value (got '{v}')");
    }

    public string? String(string name)
    {
        if (!Has(name)) return null;
        string v = _options[name][^1];
        return v.Length == 0 ? throw new UsageException($"--{name} needs a value") : v;
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

    public void ThrowIfUnused()
    {
        var unknown = _options.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new UsageException($"unknown option{(unknown.Count > 1 ? "s" : "")}: {string.Join(", ", unknown.Select(k => "--" + k))}");
    }
}
