namespace ParNet.Tests;

/// <summary>Finds ../shared/fixtures (beside the repository root), or $PARNET_FIXTURES.</summary>
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
            string candidate = System.IO.Path.Combine(dir.FullName, "..", "shared", "fixtures");
            if (System.IO.File.Exists(System.IO.Path.Combine(dir.FullName, "ParNet.slnx")) && System.IO.Directory.Exists(candidate))
                return System.IO.Path.GetFullPath(candidate);
        }
        throw new DirectoryNotFoundException("shared/fixtures not found beside the repository; set PARNET_FIXTURES");
    }
}
