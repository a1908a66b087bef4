using System.Security.Cryptography;
using ParNet.Runtime;

namespace ParNet.Training;

/// <summary>
/// What an evaluation scored, as its summary.json records it (<see cref="Evaluator.WriteReport"/>). The report's folder
/// name says which views and data it took (<see cref="EvalReportFolder"/>), not which weights: a run's eval-last was
/// rewritten after a resume had trained further, and a report copied elsewhere named nothing it came from (audit,
/// session 42). <see cref="WeightsSha256"/> names the weights' bytes wherever the file has gone since.
/// </summary>
public sealed record EvalSubject
{
    /// <summary>The model's name (a registered variant's, or the file's for a foreign ONNX graph).</summary>
    public required string Model { get; init; }
    /// <summary>The weights file read, full path (a run's EMA file where its EMA weights were scored).</summary>
    public required string Weights { get; init; }
    /// <summary>Lower-case hex SHA-256 of <see cref="Weights"/>'s bytes (<see cref="Sha256Of"/>).</summary>
    public required string WeightsSha256 { get; init; }
    /// <summary>The EMA weights were scored (a run's EMA file, a timm checkpoint's state_dict_ema): a .pth.tar holds both sets,
    /// and its two reports named the same file and hash (an audit of fine-tuning and eval, session 45).</summary>
    public bool Ema { get; init; }
    /// <summary>"TorchSharp" or "ONNX Runtime".</summary>
    public required string Engine { get; init; }
    public required string Dataset { get; init; }
    /// <summary>The data folder read, full path: given, recorded with the run, or found by default (<see cref="ParNet.Data.DataLocations.FolderRead"/>);
    /// null where none was found or the data set has no standard place.</summary>
    public string? DataFolder { get; init; }
    public required string Split { get; init; }
    /// <summary>Channels, height, width of each view.</summary>
    public required int[] ImageShape { get; init; }
    public bool TenCrop { get; init; }
    public bool Flip { get; init; }
    /// <summary>The network scored was fused: a fused file, or trained weights re-parameterized first.</summary>
    public bool Fused { get; init; }
    public bool Winograd { get; init; }
    /// <summary>How an .onnx file scored was quantized (its parnet.quantization, `export --int8`); null for float32 weights.</summary>
    public string? Quantization { get; init; }
    /// <summary>ParNet's version with its commit (<see cref="CodeVersion.Current"/>).</summary>
    public string Version { get; init; } = CodeVersion.Current;
    /// <summary>When the evaluation ended, UTC.</summary>
    public DateTime EvaluatedAt { get; init; } = DateTime.UtcNow;

    /// <summary>Lower-case hex SHA-256 of a file's bytes.</summary>
    public static string Sha256Of(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
