namespace ParNet.Data;

/// <summary>Where data sets are looked for, in a fixed order the CLI documents.</summary>
public static class DataLocations
{
    /// <summary>Project-local copy, relative to the working directory (scripts may download here).</summary>
    public const string LocalFashionMnist = "data/fashion-mnist";

    /// <summary>Where Debian's dataset-fashion-mnist package installs the files.</summary>
    public const string SystemFashionMnist = "/usr/share/datasets/fashion-mnist";

    /// <summary>
    /// The Fashion-MNIST directory: <paramref name="dataArgument"/> (--data) when given (it must hold the
    /// files: an explicit path never silently falls back), else data/fashion-mnist/, else the system copy.
    /// </summary>
    public static string ResolveFashionMnist(string? dataArgument, string? workingDirectory = null, string systemDirectory = SystemFashionMnist)
    {
        if (!string.IsNullOrEmpty(dataArgument))
        {
            if (IdxReader.HasSplit(dataArgument, train: true) || IdxReader.HasSplit(dataArgument, train: false))
                return dataArgument;
            throw new DirectoryNotFoundException($"--data {dataArgument}: no Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz] ...) there");
        }
        string local = Path.Combine(workingDirectory ?? Directory.GetCurrentDirectory(), LocalFashionMnist);
        foreach (var candidate in new[] { local, systemDirectory })
            if (IdxReader.HasSplit(candidate, train: true) || IdxReader.HasSplit(candidate, train: false))
                return candidate;
        throw new DirectoryNotFoundException(
            $"Fashion-MNIST not found: pass --data DIR, or put the IDX files in {local}, or install them into {systemDirectory} (scripts/install-data.sh)");
    }
}
