using ParNet.Runtime;

namespace ParNet.Data;

/// <summary>Where data sets are looked for, in a fixed order the CLI documents.</summary>
public static class DataLocations
{
    /// <summary>Project-local copy, relative to the working directory (scripts may download here).</summary>
    public const string LocalFashionMnist = "data/fashion-mnist";

    /// <summary>Where Debian's dataset-fashion-mnist package installs the files.</summary>
    public const string SystemFashionMnist = "/usr/share/datasets/fashion-mnist";

    /// <summary>The data directory that the data pipelines and this class take (dataDir), as <see cref="SettingNames"/> names settings.</summary>
    public const string DataDirectorySetting = "dataDir";

    /// <summary>The data set a pipeline reads (fashion-mnist, cifar10, folder, ...), as <see cref="SettingNames"/> names settings.</summary>
    public const string DatasetSetting = "dataset";

    /// <summary>
    /// The folder a data set's files are read from, as a full path, for the records that say it (run.json, eval's summary.json,
    /// an int8 file's calibration): <paramref name="dataDir"/> when given, else Fashion-MNIST's as found by default; null where
    /// none is found (the reader then says why) or the data set has no standard place. Found by default, it was recorded as
    /// null, and the record did not say which files were read (README walk, session 48).
    /// </summary>
    public static string? FolderRead(string dataset, string? dataDir)
    {
        if (dataDir is not null) return Path.GetFullPath(dataDir);
        if (DataPipelines.CanonicalName(dataset) != "fashion-mnist") return null;
        try { return Path.GetFullPath(ResolveFashionMnist(null)); }
        catch (DataNotFoundException) { return null; }
    }

    /// <summary>
    /// The Fashion-MNIST directory: <paramref name="dataDir"/> when given (it must hold the files: an explicit path never
    /// silently falls back), else data/fashion-mnist/, else the system copy, the first that holds both splits (else either).
    /// <see cref="DataNotFoundException"/> when none holds them.
    /// </summary>
    public static string ResolveFashionMnist(string? dataDir, string? workingDirectory = null, string systemDirectory = SystemFashionMnist)
    {
        if (!string.IsNullOrEmpty(dataDir))
        {
            if (IdxReader.HasSplit(dataDir, train: true) || IdxReader.HasSplit(dataDir, train: false))
                return dataDir;
            // a folder of train/ (and val/) given for the default data set: the fix is the data set, not the folder (a data audit of session 47)
            throw new DataNotFoundException(names =>
                $"{names.Given(DataDirectorySetting, dataDir)}: no Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz] ...) there" +
                (Directory.Exists(Path.Combine(dataDir, "train")) ? $" (it holds train/: class folders are read with {names.Given(DatasetSetting, "folder")})" : ""));
        }
        string local = Path.Combine(workingDirectory ?? Directory.GetCurrentDirectory(), LocalFashionMnist);
        string[] candidates = [local, systemDirectory];
        // one that holds both splits first: a data/fashion-mnist of the test files alone hid the complete system copy, and
        // train failed naming a file under a folder the user never gave (a data audit of session 47)
        foreach (var candidate in candidates)
            if (IdxReader.HasSplit(candidate, train: true) && IdxReader.HasSplit(candidate, train: false))
                return candidate;
        foreach (var candidate in candidates)
            if (IdxReader.HasSplit(candidate, train: true) || IdxReader.HasSplit(candidate, train: false))
                return candidate;
        throw new DataNotFoundException(names =>
            $"Fashion-MNIST not found: pass {names.Given(DataDirectorySetting, "DIR")}, or put the IDX files in {local}, or install them into {systemDirectory} (Debian: apt-get install dataset-fashion-mnist)");
    }
}
