namespace ParNet.Bench;

/// <summary>`--name value` options of the suites; a malformed value fails loudly instead of falling back.</summary>
static class BenchOptions
{
    public static string String(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        if (i < 0) return fallback;
        if (i + 1 >= args.Length) throw new ArgumentException($"{name} needs a value");
        return args[i + 1];
    }

    public static int Int(string[] args, string name, int fallback)
    {
        string text = String(args, name, fallback.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return int.TryParse(text, out int value) && value > 0 ? value : throw new ArgumentException($"{name} {text}: expected a positive integer");
    }
}
