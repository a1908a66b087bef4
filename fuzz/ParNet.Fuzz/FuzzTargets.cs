using ParNet.Data;
using ParNet.Models;
using ParNet.Weights;

namespace ParNet.Fuzz;

/// <summary>
/// One target per reader of untrusted files. A target gets the fuzzer's bytes as a file (the readers take paths, as
/// users give them) and must either read it or reject it with the reader's documented error, an InvalidDataException
/// naming the file (ModelConfig: also an ArgumentException naming the bad value). Anything else escapes: a crash.
/// </summary>
public static class FuzzTargets
{
    public static readonly IReadOnlyDictionary<string, Action<string>> All = new Dictionary<string, Action<string>>
    {
        ["idx"] = path => IdxReader.ReadImages(path),                 // raw, and gzip when the bytes start with its magic
        ["idx-labels"] = path => IdxReader.ReadLabels(path, 10),
        ["cifar"] = path => CifarReader.LoadCifar10(CifarFolder(path), train: false),
        ["safetensors"] = path => Dispose(StateDict.Read(Renamed(path, ".safetensors"))),
        // the header's metadata, read before the tensors by every command that takes --weights (a header that was JSON but not an
        // object crashed it: an audit of session 47, which this target had no way to find)
        ["safetensors-metadata"] = path => ParNet.Export.DeploymentInfo.ReadSafetensorsMetadata(Renamed(path, ".safetensors")),
        ["pt"] = path => Dispose(StateDict.Read(Renamed(path, ".pt"))),
        ["image"] = path => ImageFolderDataset.Decode(path, minShortSide: 64),
        ["config"] = path => ModelConfig.Load(path),
        ["yaml"] = path => ModelConfig.Load(Renamed(path, ".yaml")),   // the authors' model files
    };

    /// <summary>The errors a reader documents for bad input; any other exception is a finding.</summary>
    public static bool IsDocumentedRejection(string target, Exception e, string path) => e switch
    {
        InvalidDataException => e.Message.Contains(Path.GetFileNameWithoutExtension(path), StringComparison.Ordinal),
        ArgumentException when target is "config" or "yaml" => true,   // Validate names the bad value
        _ => false,
    };

    /// <summary>Runs one input; returns null when handled, else the exception a user would have met.</summary>
    public static Exception? RunOne(string target, byte[] bytes, string scratch)
    {
        File.WriteAllBytes(scratch, bytes);
        try { All[target](scratch); return null; }
        catch (Exception e) when (IsDocumentedRejection(target, e, scratch)) { return null; }
        catch (Exception e) { return e; }
    }

    static string CifarFolder(string path)
    {
        string dir = path + ".cifar";
        Directory.CreateDirectory(dir);
        File.Copy(path, Path.Combine(dir, "test_batch.bin"), overwrite: true);
        return dir;
    }

    static string Renamed(string path, string extension)
    {
        string renamed = path + extension;
        File.Copy(path, renamed, overwrite: true);
        return renamed;
    }

    static void Dispose(Dictionary<string, TorchSharp.torch.Tensor> tensors)
    {
        foreach (var t in tensors.Values) t.Dispose();
    }
}
