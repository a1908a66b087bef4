using System.Collections;
using ParNet.Runtime;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ParNet.Weights;

/// <summary>Which weights of a training checkpoint to read: the model's (its state_dict) or their exponential moving
/// average (timm's state_dict_ema, which the authors' validate.py --use-ema evaluates).</summary>
public enum CheckpointWeights { Model, Ema }

/// <summary>
/// State dicts with the authors' key names: safetensors (read and written) and PyTorch files (read): a plain state dict
/// (.pt/.pth), or a training checkpoint holding one under "state_dict" (and "state_dict_ema"), as timm's train.py writes
/// the authors' released .pth.tar files. Pickles are read as data: tensors and plain values are taken, any other class is
/// an inert record (TorchSharp.PyBridge's unpickler constructs nothing it does not know), and nothing is executed.
/// </summary>
public static class StateDict
{
    /// <summary>The tensors of a .safetensors or .pt/.pth file; <paramref name="what"/> says what the file holds, in errors.
    /// Every failure names the file: FileNotFoundException or InvalidDataException.</summary>
    public static Dictionary<string, Tensor> Read(string path, string what = "weights", CheckpointWeights pick = CheckpointWeights.Model)
        => Read(path, what, pick, out _);

    /// <summary>As <see cref="Read(string, string, CheckpointWeights)"/>, and the plain values (strings, numbers, booleans)
    /// of a timm checkpoint's `args` (its argparse.Namespace: model, model_cfg, num_classes, ...); null for other files.</summary>
    public static Dictionary<string, Tensor> Read(string path, string what, CheckpointWeights pick, out IReadOnlyDictionary<string, object>? args)
    {
        args = null;
        RequireFile(path, what);
        string ext = Path.GetExtension(path).ToLowerInvariant();
        try
        {
            if (ext == ".safetensors" && pick == CheckpointWeights.Ema)
                throw new InvalidDataException($"{path}: EMA weights asked for: a timm training checkpoint (.pth.tar) holds them beside the model's, " +
                                               "a .safetensors file holds one set of weights");
            // our own stream, closed whatever happens: PyBridge's path overloads leave the file open when a read fails
            // (found by fuzzing: the next write to that file failed with "being used by another process")
            using var stream = File.OpenRead(path);
            return ext switch
            {
                ".safetensors" => ValidatedSafetensors(path, stream),
                ".pt" or ".pth" or ".bin" or ".tar" => TakenFromPickle(Unpickled(RequireZip(stream, path, what)), path, pick, out args),
                _ => throw new InvalidDataException($"{path}: unknown format '{ext}' for {what} (expected .safetensors, .pt, .pth, .bin or .pth.tar)"),
            };
        }
        catch (Exception e) when (e is not FileNotFoundException && !(e is InvalidDataException && e.Message.StartsWith(path, StringComparison.Ordinal)))
        {
            // a pickle asking for a callable (os.system in a __reduce__): the unpickler builds an inert record instead and
            // fails on its arguments, in words meant for its own developers; say what happened
            if (System.Text.RegularExpressions.Regex.Match(e.Message, @"construction of ClassDict \(for ([\w.]+)\)") is { Success: true } call)
                throw new InvalidDataException($"{path}: cannot read {what}: its pickle asks to call {call.Groups[1].Value}, which weights never " +
                                               "need; refused, nothing was run", e);
            // including the readers' own InvalidDataExceptions (a truncated zip: "End of Central Directory record could not be found")
            throw new InvalidDataException($"{path}: cannot read {what} ({Said(e)})", e);
        }
    }

    /// <summary>What went wrong, in words about the file: the readers' own words named nothing in it for several malformed
    /// files ("The method or operation is not implemented.", "Unable to cast object ..."), and libtorch's carry its native
    /// stack trace (an audit of session 47).</summary>
    static string Said(Exception e)
    {
        string trace = e.StackTrace ?? "";
        return e switch
        {
            // matched by the virtual persistentLoad (never inlined), where the storage type is looked up
            NotImplementedException when trace.Contains("persistentLoad", StringComparison.Ordinal) =>
                "a tensor of a storage type this reader does not take: a quantized tensor's? (float, half, bfloat16, integer, bool and complex ones are read)",
            InvalidOperationException when trace.Contains("persistentLoad", StringComparison.Ordinal) =>
                "a tensor's data is missing from the archive: the file is incomplete",
            InvalidCastException when e.Message.Contains("System.Collections.Hashtable", StringComparison.Ordinal) =>
                "what it holds is not a dict: a state dict, or a checkpoint that holds one",
            System.Runtime.InteropServices.ExternalException => e.Message.Split('\n')[0].Trim(),
            _ => e.Message,
        };
    }

    static Hashtable Unpickled(Stream zip)
    {
        PickledTensors.Install();
        return PyTorchUnpickler.UnpickleStateDict(zip);
    }

    static Dictionary<string, Tensor> ValidatedSafetensors(string path, Stream stream)
    {
        SafetensorsHeader.Read(path);   // PyBridge's reader takes overlapping tensors and holes, and fails on a missing field in its own words
        return Safetensors.LoadStateDict(stream);
    }

    /// <summary>torch.save's legacy format: a pickle (0x80, its protocol: 2 by default, a frame after it from protocol 4) whose
    /// first value is the long 0x1950a86a20f9469cfc6c, its magic number (LONG1, 10 bytes, little-endian).</summary>
    static readonly byte[] LegacyMagic = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

    /// <summary>
    /// <paramref name="stream"/> rewound, if it is a zip archive, torch.save's format since PyTorch 1.6 (what the unpickler
    /// reads); otherwise InvalidDataException saying what the file is instead: TorchSharp's own words, "saved using the old
    /// PyTorch format ... re-save", were said of any file, a text file or random bytes too.
    /// </summary>
    static Stream RequireZip(Stream stream, string path, string what)
    {
        Span<byte> head = stackalloc byte[32];
        int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        stream.Position = 0;
        if (n >= 4 && head[..4].SequenceEqual("PK\u0003\u0004"u8)) return RequireIntactEntries(stream, path, what);
        throw new InvalidDataException(n > 0 && head[0] == 0x80 && head[..n].IndexOf(LegacyMagic) >= 0
            ? $"{path}: cannot read {what}: PyTorch's legacy format (torch.save before 1.6, or _use_new_zipfile_serialization=False); " +
              "save it again with a newer torch.save, which writes a zip archive"
            : $"{path}: cannot read {what}: not a PyTorch file (torch.save writes a zip archive; this one starts otherwise)");
    }

    /// <summary>
    /// <paramref name="stream"/> rewound once every entry of the zip matches the CRC-32 stored for it. TorchSharp's unpickler
    /// takes the stored bytes unchecked (as PyTorch 1.13 does): a checkpoint damaged in a copy or a download was read, and
    /// `convert` wrote the damaged weights into a file format without a checksum (walk F, session 29). The file is read
    /// twice (here, then by the unpickler): a second pass over a large checkpoint, mostly from the page cache.
    /// </summary>
    static Stream RequireIntactEntries(Stream stream, string path, string what)
    {
        const long MaxPickleBytes = 16L << 20;
        using (var zip = new System.IO.Compression.ZipArchive(stream, System.IO.Compression.ZipArchiveMode.Read, leaveOpen: true))
        {
            var crc = new System.IO.Hashing.Crc32();
            var buffer = new byte[1 << 20];
            // the entry the unpickler reads: PyBridge takes the first whose name ends with data.pkl
            var pickleEntry = zip.Entries.FirstOrDefault(e => e.Name.EndsWith("data.pkl", StringComparison.Ordinal));
            foreach (var entry in zip.Entries)
            {
                // PyTorch >= 2.6 can save without CRCs (torch.serialization.set_crc32_options(False)): 0 is stored, and
                // torch.load reads the file; a non-empty entry's CRC is 0 by chance once in 4 billion. Its pickle is still
                // measured (a CRC of 0 let a decompression bomb past: review, session 47)
                bool checkCrc = !(entry.Crc32 == 0 && entry.Length > 0), pickle = entry == pickleEntry;
                if (!checkCrc && !pickle) continue;
                crc.Reset();
                using var data = entry.Open();
                long total = 0;
                for (int read; (read = data.Read(buffer)) > 0;)
                {
                    crc.Append(buffer.AsSpan(0, read));
                    // its objects take ~20x its bytes in the unpickler: 60 MB of pickle deflated into a 58 KB file took 1.15 GB
                    // (an audit of session 47); a state dict's index is far smaller (the fixture's training checkpoint: 146 KB)
                    if (pickle && (total += read) > MaxPickleBytes)
                        throw new InvalidDataException($"{path}: cannot read {what}: its {entry.FullName} holds more than {MaxPickleBytes >> 20} MiB of pickle, " +
                                                       "far more than a state dict's index needs (a decompression bomb?)");
                }
                if (checkCrc && crc.GetCurrentHashAsUInt32() != entry.Crc32)
                    throw new InvalidDataException($"{path}: cannot read {what}: its entry {entry.FullName} does not match its CRC-32 " +
                                                   "(the file is damaged: copy or download it again)");
            }
        }
        stream.Position = 0;
        return stream;
    }

    /// <summary>FileNotFoundException naming <paramref name="path"/> unless it is a file; for a folder,
    /// <paramref name="folderHint"/> may say what to give instead (a layer above knows what folders hold).</summary>
    public static void RequireFile(string path, string what = "weights", Func<string, string?>? folderHint = null)
    {
        if (Directory.Exists(path))
            throw new FileNotFoundException($"{what}: {path} is a folder, not a file{(folderHint?.Invoke(path) is { } hint ? $" ({hint})" : "")}", path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{what} file not found: {path}", path);
        FileType.RequireRegular(path, what);
    }

    /// <summary>Where training checkpoints keep their weights, the model's and their EMA's: timm's train.py (the authors'
    /// released files) and torchvision's reference scripts (also DeiT's); a file of only EMA weights was called a plain state
    /// dict, and one under "model" was refused as "entry 'model' is not a tensor" (an audit of session 47).</summary>
    static readonly (string Model, string Ema)[] CheckpointKeys = [("state_dict", "state_dict_ema"), ("model", "model_ema")];

    /// <summary><see cref="FromPickle"/>, every other tensor of the file disposed: a timm checkpoint's EMA weights and optimizer
    /// state (two more sets of weights) were left to the finalizer, in native memory the garbage collector does not count
    /// (a library audit of session 47: 570 tensors live after each read of the fixture).</summary>
    static Dictionary<string, Tensor> TakenFromPickle(Hashtable table, string path, CheckpointWeights pick, out IReadOnlyDictionary<string, object>? args)
    {
        Dictionary<string, Tensor>? taken = null;
        try { return taken = FromPickle(table, path, pick, out args); }
        finally { DisposeTensorsIn(table, new HashSet<object>(taken?.Values ?? Enumerable.Empty<Tensor>(), ReferenceEqualityComparer.Instance)); }
    }

    /// <summary>Disposes every tensor reachable from <paramref name="root"/> (dicts, lists, inert records) but <paramref name="kept"/>;
    /// each container visited once (a pickle can refer to one object from several places), without recursion: a pickle of
    /// lists nested a million deep (2 MB) would overflow the stack, which ends the process (review, session 47).</summary>
    static void DisposeTensorsIn(object root, HashSet<object> kept)
    {
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var pending = new Stack<object>([root]);
        while (pending.TryPop(out var node))
        {
            if (node is string || node.GetType().IsPrimitive || !seen.Add(node)) continue;
            switch (node)
            {
                case Tensor t:
                    if (!kept.Contains(t)) t.Dispose();
                    break;
                case IDictionary dict:
                    foreach (DictionaryEntry e in dict) if (e.Value is not null) pending.Push(e.Value);
                    break;
                case IEnumerable items:
                    foreach (var item in items) if (item is not null) pending.Push(item);
                    break;
            }
        }
    }

    static Dictionary<string, Tensor> FromPickle(Hashtable table, string path, CheckpointWeights pick, out IReadOnlyDictionary<string, object>? args)
    {
        var (model, ema) = CheckpointKeys.FirstOrDefault(k => table[k.Model] is Hashtable || table[k.Ema] is Hashtable);
        bool checkpoint = model is not null;
        // the argparse.Namespace arrives as an inert record: a string-keyed dictionary of its fields
        args = checkpoint && table["args"] is IDictionary<string, object> fields
            ? fields.Where(f => f.Value is string or bool or int or long or double).ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal)
            : null;
        if (pick == CheckpointWeights.Ema)
        {
            if (!checkpoint) throw new InvalidDataException($"{path}: EMA weights asked for: a training checkpoint holds them (timm's state_dict_ema, " +
                                                           "torchvision's model_ema); this file is a plain state dict");
            table = table[ema] as Hashtable ?? throw new InvalidDataException(
                $"{path}: EMA weights asked for, but this checkpoint has no {ema} (trained without an EMA of its weights, timm's --model-ema): read its {model}");
        }
        else if (checkpoint)
            table = table[model!] as Hashtable ?? throw new InvalidDataException(
                $"{path}: this checkpoint holds EMA weights alone ({ema}), no {model}: ask for its EMA weights");
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in table)
            result[e.Key as string ?? throw new InvalidDataException($"{path}: a key of the state dict is not a string ({e.Key?.GetType().Name})")] =
                e.Value as Tensor ?? throw new InvalidDataException($"{path}: entry '{e.Key}' is not a tensor ({e.Value?.GetType().Name ?? "null"})" +
                    (e.Value is Hashtable ? ": its weights are under another key than a state dict's or a checkpoint's (state_dict, state_dict_ema, model, model_ema)" : ""));
        // torchvision's model_ema is the state dict of an AveragedModel: its count of averages beside the model's keys under
        // "module." (the wrapped model), which the strip below then takes off (review, session 47)
        if (pick == CheckpointWeights.Ema && ema == "model_ema") result.Remove("n_averaged");
        // a model saved inside DistributedDataParallel: every key under "module."
        const string ddp = "module.";
        if (result.Count > 0 && result.Keys.All(k => k.StartsWith(ddp, StringComparison.Ordinal)))
            result = result.ToDictionary(kv => kv.Key[ddp.Length..], kv => kv.Value, StringComparer.Ordinal);
        return result;
    }

    /// <summary>Writes tensors as safetensors, atomically (<see cref="AtomicFile"/>), with string <paramref name="metadata"/>
    /// in the header's __metadata__ (as the format specifies; other readers ignore what they do not know).</summary>
    public static void Write(Dictionary<string, Tensor> dict, string path, IEnumerable<KeyValuePair<string, string>>? metadata = null) =>
        AtomicFile.Write(path, temporary =>
        {
            Safetensors.SaveStateDict(temporary, dict);
            if (metadata?.ToList() is { Count: > 0 } entries) AddMetadata(temporary, entries);
        });

    /// <summary>Writes the module's state dict (parameters and buffers) as safetensors, atomically, with optional metadata.</summary>
    public static void Save(nn.Module module, string path, IEnumerable<KeyValuePair<string, string>>? metadata = null)
    {
        (module as ParNet.Models.ImageClassifier)?.ThrowIfDisposed("be saved");   // its state dict is empty: a 10-byte file
        using var scope = NewDisposeScope();   // holds the chain's intermediates (RESULTS.md, defect 6) and frees the copies
        var dict = module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().contiguous());
        Write(dict, path, metadata);
    }

    /// <summary>Rewrites a safetensors header with a __metadata__ map. The tensors' offsets count from the end of the
    /// header, so the data bytes stay as they are; the header is space-padded to 8 bytes, as the format allows.</summary>
    internal static void AddMetadata(string path, List<KeyValuePair<string, string>> entries)
    {
        byte[] file = File.ReadAllBytes(path);
        int length = checked((int)BitConverter.ToUInt64(file, 0));
        var header = System.Text.Json.Nodes.JsonNode.Parse(file.AsSpan(8, length))!.AsObject();
        var meta = new System.Text.Json.Nodes.JsonObject();
        foreach (var (key, value) in entries) meta[key] = value;
        header["__metadata__"] = meta;
        byte[] json = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes((ulong)padded));
        f.Write(json);
        for (int i = json.Length; i < padded; i++) f.WriteByte((byte)' ');
        f.Write(file.AsSpan(8 + length));
    }

    /// <summary>
    /// Copies the tensors into the module. Strict (default): any missing, unexpected or mis-shaped key
    /// fails with all of them named and nothing is loaded (a missing BatchNorm step counter, num_batches_tracked, is no
    /// mismatch). Non-strict: loads the matching keys only. Keys under
    /// <paramref name="exceptPrefix"/> are left out on both sides (a classifier that fine-tuning replaces).
    /// </summary>
    public static void Load(nn.Module module, IReadOnlyDictionary<string, Tensor> source, bool strict = true, string what = "weights",
                            string? exceptPrefix = null)
    {
        bool Kept(string key) => exceptPrefix is null || !key.StartsWith(exceptPrefix, StringComparison.Ordinal);
        var target = module.state_dict().Where(kv => Kept(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
        source = source.Where(kv => Kept(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
        // a BatchNorm's step counter missing (a state dict saved before PyTorch had it, or with it dropped) stays at its value,
        // as PyTorch's own loader does for such dicts: it counts steps and changes no output (momentum 0.1 everywhere here)
        var missing = target.Keys.Where(k => !source.ContainsKey(k) && !k.EndsWith(".num_batches_tracked", StringComparison.Ordinal)).ToList();
        var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).ToList();
        var misShaped = target.Keys.Where(source.ContainsKey)
            .Where(k => !target[k].shape.SequenceEqual(source[k].shape))
            .Select(k => $"{k} (model [{string.Join(",", target[k].shape)}], file [{string.Join(",", source[k].shape)}])")
            .ToList();
        if (misShaped.Count > 0 || (strict && (missing.Count > 0 || unexpected.Count > 0)))
            throw MismatchError(Mismatch(what, (module as ParNet.Models.ImageClassifier)?.Config.Name, missing, unexpected, misShaped));

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();   // holds each converted copy until copy_ has read it (RESULTS.md, defect 6)
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

    /// <summary>The keys of each kind named, the first <see cref="NamedKeys"/> of them: another variant's weights gave a
    /// single line of 21 KB (315 mis-shaped keys; walk F, session 29), where the first few say which network they are.</summary>
    static string Mismatch(string what, string? model, List<string> missing, List<string> unexpected, List<string> misShaped)
    {
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add($"{missing.Count} missing: {Named(missing)}");
        if (unexpected.Count > 0) parts.Add($"{unexpected.Count} unexpected: {Named(unexpected)}");
        if (misShaped.Count > 0) parts.Add($"{misShaped.Count} mis-shaped: {Named(misShaped)}");
        return $"{what} do not match the model{(model is null ? "" : " " + model)}, nothing was loaded; {string.Join("; ", parts)}";
    }

    const int NamedKeys = 10;

    /// <summary>An InvalidDataException (the type every weights reader throws) marked as weights that do not fit the model,
    /// for callers that add what they know of where the model came from (<see cref="IsMismatch"/>); the type is sealed.</summary>
    public static InvalidDataException MismatchError(string message) => new(message) { Data = { [MismatchMark] = true } };

    /// <summary>Whether <paramref name="e"/> says weights do not fit a model (<see cref="MismatchError"/>), not that a file is unreadable.</summary>
    public static bool IsMismatch(Exception e) => e is InvalidDataException && e.Data[MismatchMark] is true;

    const string MismatchMark = "ParNet.WeightsMismatch";

    static string Named(List<string> keys) =>
        string.Join(", ", keys.Take(NamedKeys)) + (keys.Count > NamedKeys ? $" (and {keys.Count - NamedKeys} more)" : "");
}
