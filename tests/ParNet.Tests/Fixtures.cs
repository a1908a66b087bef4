namespace ParNet.Tests;

/// <summary>
/// The authors' fixtures, tracked in the repository under tests/fixtures (copied from ../shared/fixtures,
/// see tests/fixtures/README.md), or $PARNET_FIXTURES when set.
/// </summary>
public static class Fixtures
{
    public static string Directory { get; } = Locate();

    public static string Path(string file) => System.IO.Path.Combine(Directory, file);

    static string Locate()
    {
        string? env = Environment.GetEnvironmentVariable("PARNET_FIXTURES");
        if (!string.IsNullOrEmpty(env)) return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = System.IO.Path.Combine(dir.FullName, "tests", "fixtures");
            if (System.IO.File.Exists(System.IO.Path.Combine(dir.FullName, "ParNet.slnx")) && System.IO.Directory.Exists(candidate))
                return candidate;
        }
        throw new DirectoryNotFoundException("tests/fixtures not found above the test assembly; set PARNET_FIXTURES");
    }
}
