using System.Collections;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ParNet.Weights;

/// <summary>
/// State dicts with the authors' key names: safetensors (read and written) and PyTorch .pt/.pth files
/// (read; a plain state dict, or a dict holding one under "state_dict").
/// </summary>
public static class StateDict
{
    /// <summary>The tensors of a .safetensors or .pt/.pth file; <paramref name="what"/> says what the file holds, in errors.
    /// Every failure names the file: FileNotFoundException or InvalidDataException.</summary>
    public static Dictionary<string, Tensor> Read(string path, string what = "weights")
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{what} file not found: {path}", path);
        string ext = Path.GetExtension(path).ToLowerInvariant();
        try
        {
            return ext switch
            {
                ".safetensors" => Safetensors.LoadStateDict(path),
                ".pt" or ".pth" or ".bin" => FromPickle(PyTorchUnpickler.UnpickleStateDict(path)),
                _ => throw new InvalidDataException($"{path}: unknown weights format '{ext}' (expected .safetensors, .pt or .pth)"),
            };
        }
        catch (Exception e) when (e is not FileNotFoundException && !(e is InvalidDataException && e.Message.StartsWith(path, StringComparison.Ordinal)))
        {
            // including the readers' own InvalidDataExceptions (a truncated zip: "End of Central Directory record could not be found")
            throw new InvalidDataException($"{path}: cannot read {what} ({e.Message})", e);
        }
    }

    static Dictionary<string, Tensor> FromPickle(Hashtable table)
    {
        if (table["state_dict"] is Hashtable nested) table = nested;   // a training checkpoint
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in table)
            result[(string)e.Key] = e.Value as Tensor
                ?? throw new InvalidDataException($"entry '{e.Key}' is not a tensor ({e.Value?.GetType().Name ?? "null"})");
        return result;
    }

    /// <summary>Writes the module's state dict (parameters and buffers) as safetensors, atomically.</summary>
    public static void Save(nn.Module module, string path)
    {
        var dict = module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().contiguous());
        Write(dict, path);
    }

    public static void Write(Dictionary<string, Tensor> dict, string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string tmp = full + ".tmp";
        Safetensors.SaveStateDict(tmp, dict);
        File.Move(tmp, full, overwrite: true);
    }

    /// <summary>
    /// Copies the tensors into the module. Strict (default): any missing, unexpected or mis-shaped key
    /// fails with all of them named and nothing is loaded. Non-strict: loads the matching keys only.
    /// </summary>
    public static void Load(nn.Module module, IReadOnlyDictionary<string, Tensor> source, bool strict = true, string what = "weights")
    {
        var target = module.state_dict();
        var missing = target.Keys.Where(k => !source.ContainsKey(k)).ToList();
        var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).ToList();
        var misShaped = target.Keys.Where(source.ContainsKey)
            .Where(k => !target[k].shape.SequenceEqual(source[k].shape))
            .Select(k => $"{k} (model [{string.Join(",", target[k].shape)}], file [{string.Join(",", source[k].shape)}])")
            .ToList();
        if (misShaped.Count > 0 || (strict && (missing.Count > 0 || unexpected.Count > 0)))
            throw new InvalidDataException(Mismatch(what, missing, unexpected, misShaped));

        using var noGrad = no_grad();
        foreach (var (key, tensor) in target)
            if (source.TryGetValue(key, out var value))
                tensor.copy_(value.to(tensor.dtype));
    }

    public static void Load(nn.Module module, string path, bool strict = true)
    {
        var dict = Read(path);
        try { Load(module, dict, strict, path); }
        finally { foreach (var t in dict.Values) t.Dispose(); }
    }

    static string Mismatch(string what, List<string> missing, List<string> unexpected, List<string> misShaped)
    {
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add($"{missing.Count} missing: {string.Join(", ", missing)}");
        if (unexpected.Count > 0) parts.Add($"{unexpected.Count} unexpected: {string.Join(", ", unexpected)}");
        if (misShaped.Count > 0) parts.Add($"{misShaped.Count} mis-shaped: {string.Join(", ", misShaped)}");
        return $"{what} do not match the model, nothing was loaded; {string.Join("; ", parts)}";
    }
}
