namespace ParNet.Tests;

/// <summary>The repository the tests were built from: the folder above the test assembly that holds ParNet.slnx.</summary>
public static class Repository
{
    public static string Root { get; } = Locate();

    /// <summary>A path inside the repository, e.g. Repository.Path("scripts", "keep_cuda_arch.py").</summary>
    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    static string Locate()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "ParNet.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException("the repository (ParNet.slnx) is not above the test assembly");
    }
}
