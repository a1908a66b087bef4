using System.Text.Json;
using System.Text.Json.Serialization;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Training;

/// <summary>One epoch's numbers, as written to metrics.csv / TensorBoard / plots.</summary>
public sealed record EpochMetrics
{
    public int Epoch { get; init; }             // 1-based: the epoch just finished
    /// <summary>The schedule's LR where the epoch ends: a step schedule's is the LR the epoch trained at; a warm-up's or a
    /// cosine's is where the curve stands at the boundary, past the epoch's last step (1 epoch of warm-up: the full LR).</summary>
    public double Lr { get; init; }
    public double TrainLoss { get; init; }
    public double TrainAccuracy { get; init; }
    public double? TestLoss { get; init; }
    public double? TestAccuracy { get; init; }
    public double? TestTop5 { get; init; }
    public double EpochSeconds { get; init; }
    public double ImagesPerSecond { get; init; }
    public double ElapsedSeconds { get; init; } // training time since the run began, resumes included
    public double RssMiB { get; init; }         // process resident memory at the end of the epoch
}

/// <summary>Everything but the tensors: where the run is, how to continue it, what it has measured.</summary>
public sealed record TrainingState
{
    /// <summary>Epochs completed (0-based index of the epoch to run next).</summary>
    public int Epoch { get; init; }
    /// <summary>Batches of epoch <see cref="Epoch"/> already trained (non-zero after an interruption).</summary>
    public int BatchInEpoch { get; init; }
    /// <summary>Epoch <see cref="Epoch"/> was trained to its end but not evaluated (an unreadable test image stopped its
    /// evaluation): a resume evaluates it, on any process count or batch (<see cref="BatchInEpoch"/> then counts the
    /// batches it stopped with, its last one partial, not images of whole steps).</summary>
    public bool EvaluationPending { get; init; }
    public long GlobalStep { get; init; }
    /// <summary>Running sums of the interrupted epoch, so its reported metrics stay exact after a resume.</summary>
    public double PartialLossSum { get; init; }
    public long PartialCorrect { get; init; }
    public long PartialSeen { get; init; }
    public double PartialSeconds { get; init; }
    public double ElapsedSeconds { get; init; }
    /// <summary>Wall time of the run (training, evaluation, checkpoints), resumes included.</summary>
    public double WallSeconds { get; init; }
    /// <summary>The run's schedule budget (see <see cref="TrainOptions.ScheduleBudget"/>), null when it has none.</summary>
    public double? ScheduleBudgetSeconds { get; init; }
    public double BestAccuracy { get; init; } = -1;
    public int BestEpoch { get; init; }
    public long EmaUpdates { get; init; }
    /// <summary>torch's CPU generator state (dropout), base64: rank 0's.</summary>
    public string? TorchRngState { get; init; }
    /// <summary>Every process's generator state (index = rank) when several trained it, each drawing its own dropout masks:
    /// a resume gives each rank its own back (null for one process).</summary>
    public List<string>? RankTorchRngStates { get; init; }
    public bool BFloat16 { get; init; }
    /// <summary>Processes that trained it (data-parallel; batch = the recipe's per process), to resume on another count.</summary>
    public int Processes { get; init; } = 1;
    public bool Finished { get; init; }
    public required Recipe Recipe { get; init; }
    [JsonIgnore] public ModelConfig Model { get; init; } = null!;
    /// <summary>The model configuration as its own JSON (ModelConfig's serializer).</summary>
    public string ModelJson { get => Model.ToJson(); init => Model = ModelConfig.FromJson(value); }
    public List<EpochMetrics> History { get; init; } = new();

    // Named floating-point literals: a diverged run's metrics (an infinite loss) must not make the checkpoint unwritable.
    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true, Converters = { new JsonStringEnumConverter() },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
    public string ToJson() => JsonSerializer.Serialize(this, Json);
    public static TrainingState FromJson(string json) => JsonSerializer.Deserialize<TrainingState>(json, Json) ?? throw new InvalidDataException("empty training state");
}

/// <summary>A loaded checkpoint; owns its tensors.</summary>
public sealed class LoadedCheckpoint : IDisposable
{
    public required string Directory { get; init; }
    public required TrainingState State { get; init; }
    public required Dictionary<string, Tensor> Weights { get; init; }
    public required Dictionary<string, Tensor> Optimizer { get; init; }
    public Dictionary<string, Tensor>? Ema { get; init; }

    public void Dispose()
    {
        foreach (var t in Weights.Values) t.Dispose();
        foreach (var t in Optimizer.Values) t.Dispose();
        if (Ema is not null) foreach (var t in Ema.Values) t.Dispose();
    }
}

/// <summary>
/// A checkpoint is a directory (RUN/checkpoints/last, RUN/checkpoints/best) holding
///   model.safetensors      the weights, loadable on their own (StateDict.Load, `parnet eval --weights`), with the run's
///                          model configuration, data set, class names and side in their metadata (TrainOptions.WeightsMetadata)
///   ema.safetensors        the EMA weights, when EMA is on (the same metadata)
///   optimizer.safetensors  momentum buffers (and float32 master weights in bfloat16 training)
///   state.json             epoch, step, RNG state, recipe, model config, metrics history
/// Written atomically: everything goes to a fresh temporary directory which then replaces the old one by
/// two renames (old -> NAME.old, new -> NAME); a crash at any point leaves NAME or NAME.old complete,
/// and <see cref="Load"/> falls back to NAME.old, as do the weights loaders given a file path in NAME (<see cref="PathToRead"/>).
/// </summary>
public static class Checkpoint
{
    public const string WeightsFile = "model.safetensors", EmaFile = "ema.safetensors",
                        OptimizerFile = "optimizer.safetensors", StateFile = "state.json";

    /// <summary>A run keeps its checkpoints in RUN/checkpoints: "last" after every epoch, "best" once evaluated.</summary>
    public const string FolderName = "checkpoints", Last = "last", Best = "best";

    /// <summary>RUN/checkpoints/NAME, the checkpoint <paramref name="name"/> of the run in <paramref name="runDirectory"/>.</summary>
    public static string In(string runDirectory, string name = Last) => Path.Combine(runDirectory, FolderName, name);

    /// <summary><see cref="StateDict.Read(string, string, CheckpointWeights, out IReadOnlyDictionary{string, object}?)"/> of weights:
    /// a checkpoint's optimizer state given as weights (its optimizer.safetensors beside model.safetensors) is said to be
    /// one, where it was a mismatch listing every key of the model as missing (cross-command audit, session 43).</summary>
    public static Dictionary<string, Tensor> ReadWeights(string path, string what, CheckpointWeights pick, out IReadOnlyDictionary<string, object>? args)
    {
        var dict = StateDict.Read(path, what, pick, out args);
        if (!Sgd.IsOptimizerState(dict.Keys)) return dict;
        foreach (var t in dict.Values) t.Dispose();
        throw new InvalidDataException($"{path}: the optimizer's state of a training checkpoint (SGD momentum), not {what}: give the " +
                                       $"{WeightsFile} beside it");
    }

    /// <summary>
    /// The file to read for <paramref name="path"/>, given where weights are read (<see cref="PathToRead"/>: a checkpoint's file
    /// found in NAME.old after a save interrupted between its renames), or FileNotFoundException unless it is a file; for a
    /// checkpoint folder the message names its weights files (not its optimizer file, the SGD momentum, whose keys are no
    /// model's), for a run folder its last weights. <paramref name="what"/> says what the file should hold.
    /// </summary>
    public static string RequireWeightsFile(string path, string what = "weights")
    {
        string file = PathToRead(path);
        StateDict.RequireFile(file, what, WeightsHint);
        return file;
    }

    /// <summary>
    /// <paramref name="path"/>, or, when it names a file of a checkpoint folder (RUN/checkpoints/NAME/model.safetensors) that a
    /// save interrupted between its two renames left only as NAME.old (<see cref="Save"/>), that file in NAME.old: the
    /// checkpoint as <see cref="Locate"/>, <see cref="Load"/> and <see cref="ChooseWeights"/> find it, until the next save puts
    /// NAME back. The folder NAME itself, so left, is NAME.old (whose files <see cref="RequireWeightsFile"/> then names).
    /// </summary>
    public static string PathToRead(string path)
    {
        // a link is judged by what it points to: File.Exists is true for a link whose target is gone
        string target = FinalLinkTarget(path) ?? path;
        if (File.Exists(target) || System.IO.Directory.Exists(target)) return path;
        string full = Path.GetFullPath(target);
        if (Locate(full) == full + ".old") return full + ".old";   // the checkpoint folder itself: its weights are named there
        string? folder = Path.GetDirectoryName(full);
        if (folder is null || System.IO.Directory.Exists(folder) || Locate(folder) != folder + ".old") return path;
        string old = Path.Combine(folder + ".old", Path.GetFileName(full));
        return File.Exists(old) ? old : path;
    }

    /// <summary>The path a symbolic link finally points to (null: not a link; a link loop is left to the reader's error).</summary>
    static string? FinalLinkTarget(string path)
    {
        try { return new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName; }
        catch (IOException) { return null; }
    }

    static string? WeightsHint(string folder)
    {
        var inside = System.IO.Directory.GetFiles(folder, "*.safetensors").Select(Path.GetFileName)
            .Where(name => name != OptimizerFile).Order(StringComparer.Ordinal).ToList();
        if (inside.Count > 0) return $"it holds {string.Join(", ", inside)}: give one of those";
        string runWeights = Path.Combine(In(folder), WeightsFile);
        return File.Exists(runWeights) ? $"a training run: its last weights are {runWeights}" : null;
    }

    /// <summary>The weights file of a run's checkpoint to evaluate or deploy, and whether they are its default ones.</summary>
    public sealed record ChosenWeights(string Path, bool Ema, bool Default);

    /// <summary>
    /// The weights of the complete checkpoint in <paramref name="directory"/> (<see cref="Locate"/>): its EMA weights when
    /// <paramref name="ema"/> says so, or by default when the run averaged weights (what its best-checkpoint choice and its
    /// reported accuracy used), else its model weights. FileNotFoundException when asked EMA weights it does not have.
    /// </summary>
    public static ChosenWeights ChooseWeights(string directory, bool? ema = null)
    {
        string dir = LocateOrThrow(directory);
        bool hasEma = File.Exists(Path.Combine(dir, EmaFile)), useEma = ema ?? hasEma;
        if (useEma && !hasEma) throw NoEma(Path.Combine(dir, EmaFile));
        return new ChosenWeights(Path.Combine(dir, useEma ? EmaFile : WeightsFile), useEma, Default: useEma == hasEma);
    }

    /// <summary>The file that holds the weights <paramref name="pick"/> asks for, and what to pick in it: a run checkpoint's
    /// EMA weights are the ema.safetensors beside its model.safetensors (<see cref="EmaBeside"/>); a timm checkpoint holds
    /// both. What every reader of weights with an EMA choice goes through (the loader, fine-tuning's backbone).</summary>
    public static (string Path, CheckpointWeights Pick) WeightsFileFor(string weightsPath, CheckpointWeights pick) =>
        pick == CheckpointWeights.Ema && EmaBeside(weightsPath) is { } ema ? (ema, CheckpointWeights.Model) : (weightsPath, pick);

    /// <summary>
    /// The EMA weights beside <paramref name="weightsPath"/> when it is a run checkpoint's model weights
    /// (RUN/checkpoints/NAME/model.safetensors, a state.json beside it): what `--ema` asks of such a file, as it asks
    /// state_dict_ema of a timm .pth.tar (a .safetensors file holds one set of weights); FileNotFoundException when that
    /// run trained without EMA. Null for any other file.
    /// </summary>
    public static string? EmaBeside(string weightsPath)
    {
        weightsPath = PathToRead(weightsPath);
        if (!string.Equals(Path.GetFileName(weightsPath), WeightsFile, StringComparison.Ordinal)) return null;
        string dir = Path.GetDirectoryName(Path.GetFullPath(weightsPath))!, ema = Path.Combine(dir, EmaFile);
        if (!File.Exists(Path.Combine(dir, StateFile))) return null;
        return File.Exists(ema) ? ema : throw NoEma(ema);
    }

    /// <summary>The training checkpoint folder <paramref name="path"/> (or the file it links to) is a file of, and which file
    /// (<see cref="WeightsFile"/>, <see cref="EmaFile"/>, <see cref="OptimizerFile"/> or <see cref="StateFile"/>, in a folder
    /// holding a state.json); null for any other path. Writing such a file replaces part of a run's checkpoint, which then
    /// cannot resume (an audit of fine-tuning, session 45: `forward --ema --out ema.safetensors` overwrote the EMA weights it
    /// had read).</summary>
    public static (string Directory, string Name)? FileOf(string path)
    {
        string target = AtomicFile.FinalTarget(path), name = Path.GetFileName(target), directory = Path.GetDirectoryName(target)!;
        return name is WeightsFile or EmaFile or OptimizerFile or StateFile && File.Exists(Path.Combine(directory, StateFile)) ? (directory, name) : null;
    }

    static FileNotFoundException NoEma(string emaPath) => new($"{emaPath} not found: the run trained without EMA", emaPath);

    /// <summary>Test hook (internal: not part of the API): called after each file is written into the temporary directory.</summary>
    internal static Action<string>? AfterFileWritten { get; set; }

    /// <summary>Test hook (internal: not part of the API): called before the previous checkpoint's folder (NAME.old) is deleted.</summary>
    internal static Action<string>? BeforeFolderDeleted { get; set; }

    /// <summary>Writes the checkpoint <paramref name="directory"/> (atomically: see the class); <paramref name="weightsMetadata"/>
    /// goes into the weights files' headers (<see cref="TrainOptions.WeightsMetadata"/>).</summary>
    public static void Save(string directory, nn.Module model, Sgd optimizer, ModelEma? ema, TrainingState state, WeightsMetadata? weightsMetadata = null)
    {
        string full = Path.GetFullPath(directory);
        string parent = Path.GetDirectoryName(full)!;
        System.IO.Directory.CreateDirectory(parent);
        string tmp = full + ".tmp-" + Environment.ProcessId;
        DeleteStaleTemporaries(full);
        if (System.IO.Directory.Exists(tmp)) System.IO.Directory.Delete(tmp, true);
        System.IO.Directory.CreateDirectory(tmp);
        using var scope = NewDisposeScope();   // holds the float32 and contiguous copies while they are written (RESULTS.md, defect 6)
        try
        {
            var metadata = weightsMetadata?.ToEntries().ToList();
            Write(Path.Combine(tmp, WeightsFile), Float32(model.state_dict()), metadata);
            if (ema is not null) Write(Path.Combine(tmp, EmaFile), new Dictionary<string, Tensor>(ema.StateDict()), metadata);
            Write(Path.Combine(tmp, OptimizerFile), optimizer.StateDict());
            string statePath = Path.Combine(tmp, StateFile);
            using (var f = new FileStream(statePath, FileMode.CreateNew, FileAccess.Write))
            {
                f.Write(System.Text.Encoding.UTF8.GetBytes(state.ToJson()));
                f.Flush(flushToDisk: true);
            }
            AfterFileWritten?.Invoke(statePath);
        }
        catch (Exception e)
        {
            try { System.IO.Directory.Delete(tmp, true); } catch (IOException) { }
            // named as the checkpoint's file, not as the temporary folder just deleted (a full disk named best.tmp-PID/...)
            // (a plain IOException only, its HResult kept: a full disk is told by it; a derived type is thrown as it was)
            if (e.GetType() == typeof(IOException) && e.Message.Contains(tmp, StringComparison.Ordinal))
                throw new IOException(e.Message.Replace(tmp, full, StringComparison.Ordinal), e) { HResult = e.HResult };
            throw;
        }
        string old = full + ".old";
        // NAME.old goes first only when NAME takes its place: a save killed between its renames left NAME.old alone, the
        // run's only checkpoint until the new one is in place
        if (System.IO.Directory.Exists(full))
        {
            if (System.IO.Directory.Exists(old)) DeleteFolder(old);
            System.IO.Directory.Move(full, old);
        }
        System.IO.Directory.Move(tmp, full);
        if (System.IO.Directory.Exists(old)) DeleteFolder(old);
    }

    static void DeleteFolder(string folder)
    {
        BeforeFolderDeleted?.Invoke(folder);
        System.IO.Directory.Delete(folder, true);
    }

    static Dictionary<string, Tensor> Float32(IDictionary<string, Tensor> dict)
        => dict.ToDictionary(kv => kv.Key, kv => kv.Value.is_floating_point() && kv.Value.dtype != ScalarType.Float32
            ? kv.Value.detach().to(ScalarType.Float32) : kv.Value.detach());

    static void Write(string path, Dictionary<string, Tensor> dict, List<KeyValuePair<string, string>>? metadata = null)
    {
        var contiguous = dict.ToDictionary(kv => kv.Key, kv => kv.Value.contiguous());
        TorchSharp.PyBridge.Safetensors.SaveStateDict(path, contiguous);
        if (metadata is { Count: > 0 }) StateDict.AddMetadata(path, metadata);
        using (var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite)) f.Flush(flushToDisk: true);
        AfterFileWritten?.Invoke(path);
    }

    /// <summary>
    /// Removes NAME.tmp-PID folders that a killed process left behind (its PID no longer runs), so they do
    /// not pile up; a folder of a process still running (another writer) is left alone. Those of a run's other
    /// checkpoint beside it too: a kill while "best" was written left best.tmp-PID, a checkpoint's size, until the
    /// next best epoch, which may never come.
    /// </summary>
    static void DeleteStaleTemporaries(string full)
    {
        string parent = Path.GetDirectoryName(full)!;
        foreach (string prefix in new[] { Path.GetFileName(full), Last, Best }.Distinct().Select(name => name + ".tmp-"))
            foreach (var dir in System.IO.Directory.EnumerateDirectories(parent, prefix + "*"))
            {
                if (!int.TryParse(Path.GetFileName(dir)[prefix.Length..], out int pid) || pid == Environment.ProcessId) continue;
                if (!IsRunning(pid)) System.IO.Directory.Delete(dir, true);
            }
    }

    static bool IsRunning(int pid)
    {
        try { using var p = System.Diagnostics.Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
    }

    /// <summary>The files every checkpoint has; <see cref="EmaFile"/> too when its recipe averages weights.</summary>
    static readonly string[] RequiredFiles = [StateFile, WeightsFile, OptimizerFile];

    static IEnumerable<string> Missing(string dir) => RequiredFiles.Where(f => !File.Exists(Path.Combine(dir, f)));

    /// <summary>
    /// The directory that holds a complete checkpoint: NAME, else NAME.old (interrupted save), else null.
    /// Complete: state, weights and optimizer files present (EMA weights are checked by <see cref="Load"/>).
    /// </summary>
    public static string? Locate(string directory)
    {
        string full = Path.GetFullPath(directory);
        foreach (var candidate in new[] { full, full + ".old" })
            if (System.IO.Directory.Exists(candidate) && !Missing(candidate).Any())
                return candidate;
        return null;
    }

    /// <summary>The complete checkpoint's directory, or FileNotFoundException naming what is missing.</summary>
    static string LocateOrThrow(string directory)
    {
        if (Locate(directory) is { } dir) return dir;
        string full = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(full)) throw new FileNotFoundException($"no checkpoint in {directory}");
        if (Locate(In(full)) is not null)   // what `train --resume` takes: the library's callers meant its last checkpoint
            throw new FileNotFoundException($"{directory} is a training run, not a checkpoint: its last checkpoint is {In(directory)} (Checkpoint.In(run))");
        throw new FileNotFoundException($"incomplete checkpoint {directory}: missing {string.Join(", ", Missing(full))} " +
                                        "(a checkpoint is complete or refused: resuming without them would silently differ)");
    }

    public static TrainingState ReadState(string directory) => ReadStateFile(LocateOrThrow(directory));

    static TrainingState ReadStateFile(string dir)
    {
        string path = Path.Combine(dir, StateFile);
        try { return TrainingState.FromJson(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: unreadable training state ({e.Message})", e); }
    }

    public static LoadedCheckpoint Load(string directory)
    {
        string dir = LocateOrThrow(directory);
        TrainingState state = ReadStateFile(dir);
        string emaPath = Path.Combine(dir, EmaFile);
        if (state.Recipe.EmaDecay > 0 && !File.Exists(emaPath))
            throw new FileNotFoundException($"incomplete checkpoint {dir}: its recipe averages weights (EMA {state.Recipe.EmaDecay}) but {EmaFile} is missing");
        return new LoadedCheckpoint
        {
            Directory = dir,
            State = state,
            Weights = StateDict.Read(Path.Combine(dir, WeightsFile)),
            Optimizer = StateDict.Read(Path.Combine(dir, OptimizerFile)),
            Ema = File.Exists(emaPath) ? StateDict.Read(emaPath) : null,
        };
    }
}
