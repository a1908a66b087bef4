using System.Globalization;

namespace ParNet.Training;

/// <summary>
/// Where an evaluation's report goes when no folder is given: RUN/eval-CHECKPOINT for a run, runs/eval-STAMP for a weights
/// file, each followed by what was scored when it differs from the plain evaluation (-64px, -tencrop, -flip, -fused,
/// -int8, -winograd, -train, -subset50, -classes0-4, -cifar10 or -data-1a2b3c4d for another data set or folder than the run's,
/// -noema for a run's model weights where it averaged weights, -ema for a weights file's EMA weights). A part of the data or other weights replaced the full evaluation's report in the same folder, and
/// summary.json does not say which it was (walk E, session 28).
/// </summary>
public sealed record EvalReportFolder
{
    public int? ImageSize { get; init; }
    public bool TenCrop { get; init; }
    public bool Flip { get; init; }
    public bool Fused { get; init; }
    public bool Winograd { get; init; }
    public string Split { get; init; } = "test";
    public int? SubsetPerClass { get; init; }
    /// <summary>The class selection as the user wrote it (e.g. "0-4") and the ids it names; null: every class.</summary>
    public (string Given, int[] Ids)? Classes { get; init; }
    /// <summary>The run's model weights where it averaged weights (EMA): not the weights of its default report.</summary>
    public bool NotTheRunsDefaultWeights { get; init; }
    /// <summary>A weights file's EMA weights (a timm checkpoint's state_dict_ema, the EMA file beside a run checkpoint's
    /// model weights): a .pth.tar's two evaluations had folder names alike (an audit of fine-tuning and eval, session 45).</summary>
    public bool Ema { get; init; }
    /// <summary>An int8 .onnx file (`export --int8`): it was named as its float32 file was (README walk, session 48).</summary>
    public bool Int8 { get; init; }
    /// <summary>Another data set than the run's (its name), or another data folder (<see cref="DataFolderPart"/>); null: the
    /// run's own. Two evaluations of one run on two data folders wrote one folder, the second replacing the first (study
    /// audit, session 40).</summary>
    public string? OtherData { get; init; }

    public string Suffix =>
        (ImageSize is int n ? $"-{n}px" : "") + (TenCrop ? "-tencrop" : "") + (Flip ? "-flip" : "") + (Fused ? "-fused" : "") + (Int8 ? "-int8" : "") +
        (Winograd ? "-winograd" : "") + (Split != "test" ? "-" + Split : "") + (SubsetPerClass is int per ? $"-subset{per}" : "") +
        (Classes is var (given, ids) ? ClassesPart(given, ids) : "") + (OtherData is string data ? "-" + data : "") +
        (NotTheRunsDefaultWeights ? "-noema" : "") + (Ema ? "-ema" : "");

    /// <summary>"data-" and 8 hex digits of a hash of the folder's full path: a data folder named in a folder name.</summary>
    public static string DataFolderPart(string folder) =>
        "data-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(FullFolder(folder))))[..8];

    /// <summary>A folder's full path without a trailing separator: "data/" and "./data" are one folder.</summary>
    public static string FullFolder(string folder) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));

    /// <summary>RUN/eval-CHECKPOINT[suffix] for checkpoint <paramref name="checkpointName"/> of <paramref name="run"/>.</summary>
    public string InRun(string run, string checkpointName) => Path.Combine(run, $"eval-{checkpointName}{Suffix}");

    /// <summary>runs/eval[suffix]-yyyyMMdd-HHmmss: the name of a new folder for each evaluation of a weights file; make it with
    /// <see cref="ParNet.Runtime.NewFolder.Make"/>, which gives a second evaluation started in the same second -2.</summary>
    public string ForWeights(DateTime now) =>
        Path.Combine("runs", $"eval{Suffix}-{now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}");

    /// <summary>The -classes part: the selection as given, or for a long list (a file name holds 255 bytes) its count and
    /// a hash of the ids.</summary>
    static string ClassesPart(string given, int[] ids)
    {
        string text = given.Replace(" ", "");
        if (text.Length <= 40) return $"-classes{text}";
        string hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join(",", ids))))[..8];
        return $"-{ids.Length}classes-{hash}";
    }
}
