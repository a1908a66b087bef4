using System.Text.RegularExpressions;

namespace ParNet.Tests.Architecture;

/// <summary>
/// docs/architecture.md names types and files that move (Ema.cs became ModelEma.cs, Trainer.cs and PredictionEndpoints.cs
/// were split): every `TypeName` it names is declared somewhere under src/, and every `path/with/slashes` or `File.cs`
/// exists (in the repository, under src/ParNet.Core/ or under src/ParNet.Serving/), so a rename shows up here.
/// </summary>
public partial class ArchitectureDocTests
{
    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex Quoted();

    [Fact]
    public void Every_type_and_file_the_document_names_exists()
    {
        string doc = File.ReadAllText(Repository.Path("docs", "architecture.md"));
        string sources = string.Join("\n", Directory.EnumerateFiles(Repository.Path("src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/obj/") && !f.Contains("/bin/")).Select(File.ReadAllText));
        var missing = new List<string>();
        foreach (var name in Quoted().Matches(doc).Select(m => m.Groups[1].Value).Distinct())
        {
            if (name.Contains('/') || name.EndsWith(".cs") || name.EndsWith(".html"))
            {
                string path = name.TrimEnd('/');
                if (path.Contains('<') || path.Contains(' ') || Regex.IsMatch(path, "^[A-Z]+/")) continue;   // a pattern (tests/ParNet.Tests/<Layer>/, RUN/...), a command line
                bool found = new[] { Repository.Root, Repository.Path("src", "ParNet.Core"), Repository.Path("src", "ParNet.Serving") }
                    .Any(root => File.Exists(Path.Combine(root, path)) || Directory.Exists(Path.Combine(root, path))
                                 || File.Exists(Path.Combine(root, path + ".cs")));
                if (!found) missing.Add(name);
            }
            else if (Regex.Match(name, @"^([A-Z][A-Za-z0-9]+)(\.[A-Z][A-Za-z0-9]+)?(\(.*\))?$") is { Success: true } m
                     && !name.StartsWith("ParNet."))
            {
                string type = m.Groups[1].Value;
                if (!Regex.IsMatch(sources, $@"\b(class|record|struct|interface|enum)( struct)? {type}\b")
                    && !(m.Groups[2].Success && Regex.IsMatch(sources, $@"\b(class|record) {m.Groups[2].Value[1..]}\b")))
                    missing.Add(name);
            }
        }
        Assert.True(missing.Count == 0, "docs/architecture.md names what src/ does not hold: " + string.Join(", ", missing));
    }
}
