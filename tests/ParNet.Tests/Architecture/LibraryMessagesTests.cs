using System.Text.RegularExpressions;

namespace ParNet.Tests.Architecture;

/// <summary>
/// The library knows nothing of the `parnet` command line: no string in src/ParNet.Core or src/ParNet.Serving names an
/// option ("--seeds 0: at least 1" told a program that calls the library about an option it never had). The library's
/// messages name its settings; the CLI words them with its options (OptionNames). Allowed: the arguments the two PyTorch
/// reference classes pass to their Python child process (that script's own command line), the curl example of an HTTP
/// error body, and timm's own --model-ema. The scan reads code, not comments: outside strings C# has no "--name".
/// </summary>
public partial class LibraryMessagesTests
{
    [GeneratedRegex(@"--[a-z][a-z0-9-]*")]
    private static partial Regex Option();

    static bool Allowed(string file, string code, Match option) => Path.GetFileName(file) switch
    {
        "PyTorchReference.cs" or "PyTorchTrainingReference.cs" =>   // a whole argument of the child process: "--planes"
            option.Index > 0 && code[option.Index - 1] == '"' && option.Index + option.Length < code.Length && code[option.Index + option.Length] == '"',
        "RequestReading.cs" => code.Contains("\"curl ", StringComparison.Ordinal),
        "StateDict.cs" => option.Value == "--model-ema" && code[..option.Index].EndsWith("timm's ", StringComparison.Ordinal),
        _ => false,
    };

    [Fact]
    public void No_library_string_names_a_command_line_option()
    {
        var found = new List<string>();
        foreach (string project in new[] { "ParNet.Core", "ParNet.Serving" })
            foreach (string file in Directory.EnumerateFiles(Repository.Path("src", project), "*.cs", SearchOption.AllDirectories)
                         .Where(f => !f.Contains("/obj/") && !f.Contains("/bin/")))
            {
                var lines = File.ReadAllLines(file);
                for (int i = 0; i < lines.Length; i++)
                {
                    string code = Code(lines[i]);
                    foreach (Match option in Option().Matches(code))
                        if (!Allowed(file, code, option)) found.Add($"{Path.GetRelativePath(Repository.Root, file)}:{i + 1}: {option.Value}");
                }
            }
        Assert.True(found.Count == 0, "library strings that name command-line options:\n" + string.Join("\n", found));
    }

    [Fact]
    public void The_scan_reads_strings_and_leaves_comments_out()
    {
        Assert.Equal("throw new ArgumentException($\"--seeds {Seeds}: at least 1\");   ",
                     Code("throw new ArgumentException($\"--seeds {Seeds}: at least 1\");   // was \"--x\""));
        Assert.Equal("", Code("/// <summary>`serve --max-batch`</summary>"));
        Assert.Equal("f(\"see https://example.org --x\");", Code("f(\"see https://example.org --x\");"));   // a string's // is no comment
        Assert.Equal("if (c == '\"') f(\"a // b\");", Code("if (c == '\"') f(\"a // b\");"));                  // nor is one after a '"'
    }

    /// <summary>A line of C# without its comment: everything before a // that stands outside a string or char literal.</summary>
    static string Code(string line)
    {
        bool inString = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (inString)
            {
                if (c == '\\') i++;
                else if (c == '"') inString = false;
            }
            else if (c == '/' && i + 1 < line.Length && line[i + 1] == '/') return line[..i];
            else if (c == '\'' && i + 1 < line.Length) i += line[i + 1] == '\\' ? 3 : 2;   // a char literal: '"' opens no string
            else if (c == '"') inString = true;
        }
        return line;
    }
}
