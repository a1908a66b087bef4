using System.Text.Json;
using System.Text.Json.Nodes;
using ParNet.Analysis;
using ParNet.Benchmarking;
using ParNet.Data;
using ParNet.Fusion;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Training;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Studies;

/// <summary>
/// Runs a study: every trained cell once per seed, each an ordinary run folder (DIR/CELL/seed-K: the trainer's checkpoints,
/// metrics.csv, TensorBoard, plots) with the fashion-mnist recipe, then the ensembles from their members' saved test
/// probabilities. A cell whose cell.json exists is skipped, so a killed study continues where it stopped, and an unfinished
/// cell continues from its last checkpoint (a cell of `--scale full` trains for hours; it started again until session 35).
/// DIR/study.json pins the study and its grid: another study's folder is refused.
/// </summary>
public static class StudyRunner
{
    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>study.json and cell.json replaced whole (a cell.json marks its cell done: a half-written one would not read).</summary>
    static void WriteJson<T>(string path, T value) => AtomicFile.Write(path, temporary => File.WriteAllText(temporary, JsonSerializer.Serialize(value, Json)));
    const string ProbabilitiesFile = "test-probabilities.safetensors";

    /// <summary><see cref="Run"/>'s directory, as <see cref="SettingNames"/> names settings.</summary>
    public const string DirectorySetting = "directory";

    public static IReadOnlyList<CellRun> Run(Study study, StudySettings settings, string directory,
                                             Action<StudyProgress>? progress = null, CancellationToken cancel = default)
    {
        settings.Validate();
        ClaimFolder(study, settings, directory);
        var runs = new List<CellRun>();
        var order = study.TrainedCells.SelectMany(c => Enumerable.Repeat(c.Name, settings.Seeds)).ToList();   // the cell of each run, in turn
        var timeLeft = progress is null ? null : StudyTimeLeft.Of(study);
        foreach (var cell in study.TrainedCells)
            for (int k = 0; k < settings.Seeds; k++)
            {
                cancel.ThrowIfCancellationRequested();
                string dir = Path.Combine(directory, cell.Name, $"seed-{k}");
                var here = new StudyProgress(CellEvent.Started, cell.Name, k, runs.Count + 1, order.Count);
                if (Load(dir) is { } done)
                {
                    // a cell.json copied from another cell was taken for this one's, its top-1 reported as this cell's (study audit, session 46)
                    if (done.Cell != cell.Name || done.Seed != k)
                        throw new InvalidDataException($"{Path.Combine(dir, CellFile)} records {done.Cell} seed {done.Seed}, not {cell.Name} seed {k} " +
                                                       "(copied from another cell's folder?): delete it to train this cell again");
                    progress?.Invoke(here with { Event = CellEvent.Skipped, Result = done });
                    runs.Add(done);
                    timeLeft?.Finished(done);
                    continue;
                }
                progress?.Invoke(here with { Left = timeLeft?.Left(order.Skip(runs.Count)) });
                var epochs = progress is null ? null : new EpochForwarder(e => progress(here with { Event = CellEvent.Epoch, Epoch = e }));
                var run = Train(cell, k, settings, dir, epochs, cancel, (from, problem) => progress?.Invoke(here with
                    { Event = problem is null ? CellEvent.Continued : CellEvent.Restarted, ContinuedFrom = from, Problem = problem }));
                runs.Add(run);
                timeLeft?.Finished(run);
                progress?.Invoke(here with { Event = CellEvent.Finished, Result = run });
            }
        foreach (var ensemble in study.Cells.Where(c => c.IsEnsemble))
            for (int k = 0; k < settings.Seeds; k++)
                runs.Add(ScoreEnsemble(study, ensemble, k, runs, directory));
        return runs;
    }

    const string CellFile = "cell.json";

    /// <summary>The finished run of a cell folder, or null; <see cref="InvalidDataException"/> naming a cell.json that does not
    /// read as one (its parser's words named no file).</summary>
    public static CellRun? Load(string cellDirectory)
    {
        string file = Path.Combine(cellDirectory, CellFile);
        if (!File.Exists(file)) return null;
        return ReadJson<CellRun>(file, "a finished cell's record", "delete it to train this cell again");
    }

    /// <summary>A JSON file of the study's, or <see cref="InvalidDataException"/> naming it, what it should be and what to do.</summary>
    static T ReadJson<T>(string file, string what, string remedy) where T : class
    {
        try { return JsonSerializer.Deserialize<T>(File.ReadAllText(file), Json) ?? throw new JsonException("it holds null"); }
        catch (JsonException e) { throw new InvalidDataException($"{file}: not {what} ({e.Message}): {remedy}", e); }
    }

    static void ClaimFolder(Study study, StudySettings settings, string directory)
    {
        string file = Path.Combine(directory, "study.json");
        var mine = new StudyFolder(study.Name, study.GridHash(subsetDrawn: settings.SubsetPerClass is not null), settings with { DataDirectory = null },
                                   TrainingFields(JsonNode.Parse(CellRecipe(settings, Recipes.FashionMnist.Seed).ToJson())!.AsObject()));
        if (File.Exists(file))
        {
            var theirs = ReadJson<StudyFolder>(file, "a study folder's record", "delete it if no cell of this folder has trained, else use another folder");
            if (theirs.Recipe is { } recorded) theirs = theirs with { Recipe = TrainingFields(recorded) };
            if (theirs.Study != study.Name)
                throw Taken($"{directory} holds the study '{theirs.Study}', not '{study.Name}'");
            // a study that stopped before any cell started training (a wrong --data) pinned its settings, and the corrected
            // command was refused: with no cell trained there is nothing to keep consistent with, and the new settings claim
            // the folder. A cell that has started (its run files, a checkpoint) counts as one: a half-trained cell resumed
            // under other settings mixed two schedules in one run (study audit, session 40), and a second process with a
            // typo rewrote study.json under the first
            // (below the study's folder: a study under any .../checkpoints/... path counted as started; study audit, session 46)
            bool anyStarted = Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
                .Any(f => Path.GetFileName(f) is CellFile or RunSettings.FileName or "recipe.json" ||
                          Path.GetRelativePath(directory, f).Split(Path.DirectorySeparatorChar).Contains(Checkpoint.FolderName));
            bool sameRecipe = theirs.Recipe is not null && JsonFields.Differences(theirs.Recipe, mine.Recipe!, "", "") == "";
            if (!anyStarted && (theirs.GridHash != mine.GridHash || theirs.Settings != mine.Settings || !sameRecipe)) { WriteJson(file, mine); return; }
            if (theirs.GridHash != mine.GridHash)
                throw Taken($"{directory} holds '{study.Name}' with another grid of cells (made by another version of parnet)");
            // the recipe is parnet's, not the command's: a study resumed under a version with another fashion-mnist recipe trained
            // its remaining cells with it, and the table mixed two recipes without a word (study audit, session 40)
            // (a finished study of such a version is still re-timed and reported: nothing of it trains again)
            if (theirs.Recipe is null && !AllFinished(study, theirs.Settings, directory))
                throw Taken($"{directory} holds '{study.Name}' started by an older version of parnet, which did not record its training recipe",
                            orElse: "continue it with that version");
            // more seeds of the same settings: seeds 0..n-1 are the same computations, kept, and only the new ones train (a 3-seed
            // study was refused at --seeds 5, and trained again from nothing in a new folder; study audit, session 46)
            bool moreSeeds = theirs.Settings with { Seeds = mine.Settings.Seeds } == mine.Settings && mine.Settings.Seeds > theirs.Settings.Seeds;
            // (not for a folder of a version that recorded no recipe: its new seeds would train under this version's beside seeds
            // of an unknown one; review of session 46)
            if (moreSeeds && theirs.Recipe is null)
                throw Taken($"{directory} holds '{study.Name}' of an older version of parnet, which did not record its training recipe: " +
                            "seeds cannot be added to it", orElse: "report it with its own seeds");
            // every setting is named: a study that differed only in its test subset or steps was refused with a list equal to the command's
            if (theirs.Settings != mine.Settings && !moreSeeds)
                throw Taken($"{directory} holds '{study.Name}' with other settings ({Describe(theirs.Settings)}; here {Describe(mine.Settings)})",
                            orElse: "continue it with those");
            // the settings are equal, so the recipes' epochs are: what differs is parnet's recipe
            if (!sameRecipe && theirs.Recipe is not null)
                throw Taken($"{directory} holds '{study.Name}' trained with another recipe ({JsonFields.Differences(theirs.Recipe, mine.Recipe!, "there", "here")}; " +
                            "made by another version of parnet)", orElse: "continue it with that version");
            if (moreSeeds) WriteJson(file, mine);
            return;
        }
        Directory.CreateDirectory(directory);
        WriteJson(file, mine);
    }

    /// <summary>The recipe's fields that train a cell, as JSON: not its name, description, model or width (every cell brings its
    /// own model), which a later version may reword without changing what a cell learns.</summary>
    static JsonObject TrainingFields(JsonObject recipe)
    {
        foreach (string prose in new[] { nameof(Recipe.Name), nameof(Recipe.Description), nameof(Recipe.Model), nameof(Recipe.Width) }) recipe.Remove(prose);
        return recipe;
    }

    /// <summary>Whether every trained cell of the study has finished every seed in <paramref name="directory"/>.</summary>
    static bool AllFinished(Study study, StudySettings settings, string directory) =>
        study.TrainedCells.All(c => Enumerable.Range(0, settings.Seeds).All(k => File.Exists(Path.Combine(directory, c.Name, $"seed-{k}", CellFile))));

    /// <summary>A folder that holds another study, grid or settings: another directory, <paramref name="orElse"/>.</summary>
    static InvalidSettingException Taken(string what, string? orElse = null) =>
        new(DirectorySetting, names => $"{what}: {(orElse is null ? "" : orElse + ", or ")}use another {names.Name(DirectorySetting)}");

    /// <summary>study.json. <see cref="Recipe"/>: the fields of every cell's training recipe that train it, at seed offset 0
    /// (null in folders of versions before session 41).</summary>
    sealed record StudyFolder(string Study, string GridHash, StudySettings Settings, JsonObject? Recipe);

    static string Describe(StudySettings s) =>
        $"{s.Seeds} seed{(s.Seeds == 1 ? "" : "s")}, {s.Epochs} epoch{(s.Epochs == 1 ? "" : "s")}, subset {s.SubsetPerClass?.ToString() ?? "all"}, " +
        $"test subset {s.TestSubsetPerClass?.ToString() ?? "all"}{(s.StopAfterSteps is long k ? $", {k} step{(k == 1 ? "" : "s")} per cell" : "")}";

    /// <summary>The trainer's epoch reports, passed on as they happen (its other events are the study's own business).</summary>
    sealed class EpochForwarder(Action<EpochEvent> onEpoch) : IProgress<TrainEvent>
    {
        public void Report(TrainEvent value)
        {
            if (value is EpochEvent e) onEpoch(e);
        }
    }

    /// <summary>What every cell trains with: the fashion-mnist recipe at the study's epochs, with the committed tables' shift.</summary>
    static Recipe CellRecipe(StudySettings s, int seed) =>
        Recipes.FashionMnist with { Epochs = s.Epochs, Seed = seed, CropPadding = StudySettings.CropPadding };

    /// <summary>What seed k of a cell trains with: the fashion-mnist recipe and the loader at its training seed, which its
    /// <see cref="StudyCell.SeedOffset"/> moves (an ensemble's members: their own initialization, order and augmentation),
    /// and the training subset of seed k, every cell's.</summary>
    internal static (Recipe Recipe, LoaderOptions Loader) CellTraining(StudyCell cell, int k, StudySettings s)
    {
        int dataSeed = Recipes.FashionMnist.Seed + k;
        var recipe = CellRecipe(s, dataSeed + cell.SeedOffset);
        return (recipe, new LoaderOptions
        {
            BatchSize = recipe.BatchSize, Seed = recipe.Seed, Workers = LoaderOptions.DefaultWorkers,
            Subset = s.SubsetPerClass is int n ? Subset.PerClass(n, dataSeed) : null,
        });
    }

    /// <param name="attempt">told where an unfinished attempt continues from, or why its checkpoint cannot be read (the cell
    /// then starts again)</param>
    static CellRun Train(StudyCell cell, int k, StudySettings s, string dir, IProgress<TrainEvent>? progress, CancellationToken cancel,
                         Action<TrainingState?, string?> attempt)
    {
        var (recipe, loader) = CellTraining(cell, k, s);
        var train = DataPipelines.Train("fashion-mnist", s.DataDirectory, cell.Model, recipe.Augmentation(), loader, cell.ImageSize);
        var test = DataPipelines.Eval("fashion-mnist", s.DataDirectory, cell.Model, recipe.Augmentation(),
            loader with { BatchSize = EvaluationDefaults.DuringTraining(recipe.BatchSize), Subset = EvaluationDefaults.PerClassSubset(s.TestSubsetPerClass) }, size: cell.ImageSize);
        var (resume, unreadable) = UnfinishedAttempt(dir);
        using var resumed = resume;
        if (resume is null)
        {
            // another study training this cell now holds its folder: deleting it would take its lock away with it
            if (FolderLock.HolderOf(dir) is { } holder) throw new FolderInUseException(dir, holder);
            if (unreadable is not null) attempt(null, unreadable);
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            Directory.CreateDirectory(dir);
        }
        else attempt(resume.State, null);

        Trainer.Seed(recipe.Seed);   // the training seed (CellTraining)
        // An earlier cell with a width oneDNN gets wrong turned oneDNN off for the process (ImageClassifier.EnsureCorrectConvolutions):
        // each cell starts with it on again and its own model turns it off if it must, so the cells that need no workaround
        // train at oneDNN's speed (4.4x that of libtorch's own convolution here) and their latencies stay comparable.
        LibTorchWorkarounds.OneDnnEnabled = true;
        using var model = ModelFactory.Create(cell.Model);
        TrainResult result;
        using (var trainer = new Trainer(model, train, null, new TrainOptions
               {
                   Recipe = recipe, RunDirectory = dir, StopAfterSteps = s.StopAfterSteps, Progress = progress, ResumeFrom = resume,
                   // a cell's weights say what they are, as a run's do; its side is the cell's (the resolution study's)
                   WeightsMetadata = RunSettings.DescribeWeights(new RunSettings { Dataset = "fashion-mnist", ClassNames = train.ClassNames }, cell.Model, recipe)
                                     with { Fused = false, ImageSize = test.ImageShape.Height },
               }))
            result = trainer.Run(cancel);
        // the trainer returns when cancelled (its checkpoint saved): the cell is unfinished, and was scored and marked done
        cancel.ThrowIfCancellationRequested();
        double seconds = result.State.WallSeconds;   // every attempt's training time, as the run folder records it

        var (probabilities, labels) = TestProbabilities(model, test);
        StateDict.Write(new() { ["probabilities"] = probabilities, ["labels"] = labels }, Path.Combine(dir, ProbabilitiesFile));
        var summary = ModelSummary.Of(model, test.ImageShape.Height);
        var run = new CellRun(cell.Name, k, Top1(probabilities, labels), summary.TrainableParameters, summary.Depth,
                              FusedLatencyMs(model, test.ImageShape), seconds)
        {
            OneDnnOff = !LibTorchWorkarounds.OneDnnEnabled,
            TrainedOn = StudyReport.Machine(get_num_threads()),
            TrainImages = train.DatasetCount,
            TestImages = test.DatasetCount,
        };
        WriteJson(Path.Combine(dir, CellFile), run);
        return run;
    }

    /// <summary>The last complete checkpoint of a cell's unfinished attempt (stopped or killed), to continue from; null when
    /// there is none or it cannot be read (the cell then starts again: the second item says why, which went unsaid,
    /// hours of a full-scale cell lost without a word; study audit, session 46).</summary>
    static (LoadedCheckpoint? Checkpoint, string? Unreadable) UnfinishedAttempt(string cellDirectory)
    {
        if (Checkpoint.Locate(Checkpoint.In(cellDirectory)) is not { } last) return (null, null);
        try { return (Checkpoint.Load(last), null); }
        catch (Exception e) when (e is InvalidDataException or IOException) { return (null, $"{last}: {e.Message}"); }
    }

    /// <summary>Softmax outputs [N, classes] and labels [N] of the whole test source, in its order.</summary>
    static (Tensor Probabilities, Tensor Labels) TestProbabilities(ImageClassifier model, IBatchSource test)
    {
        model.eval();
        using var scope = NewDisposeScope();   // holds every temporary while libtorch reads it (RESULTS.md, defect 6)
        var probabilities = new List<Tensor>();
        var labels = new List<Tensor>();
        using (no_grad())
            foreach (var batch in test.Epoch(0))
                using (batch)
                {
                    probabilities.Add(nn.functional.softmax(model.call(batch.Images), 1).detach());
                    labels.Add(batch.Labels.clone());
                }
        return (cat(probabilities.ToArray()).MoveToOuterDisposeScope(), cat(labels.ToArray()).MoveToOuterDisposeScope());
    }

    public static double Top1(Tensor probabilities, Tensor labels)
    {
        using var scope = NewDisposeScope();   // holds the chain's intermediates (RESULTS.md, defect 6)
        return probabilities.argmax(1).eq(labels).to(ScalarType.Float64).mean().item<double>();
    }

    /// <summary>Table 9's ensemble: the members' softmax outputs averaged, then top-1.</summary>
    public static double EnsembleTop1(IReadOnlyList<Tensor> memberProbabilities, Tensor labels)
    {
        if (memberProbabilities.Count == 0) throw new ArgumentException("an ensemble needs members");
        using var scope = NewDisposeScope();
        return Top1(stack(memberProbabilities.ToArray()).mean([0]), labels);
    }

    static CellRun ScoreEnsemble(Study study, StudyCell ensemble, int k, IReadOnlyList<CellRun> runs, string directory)
    {
        using var scope = NewDisposeScope();
        var members = ensemble.Members.Select(m =>
        {
            string file = Path.Combine(directory, m, $"seed-{k}", ProbabilitiesFile);
            // said as "weights file not found", with no way out (study audit, session 46)
            if (!File.Exists(file))
                throw new InvalidDataException($"{file} is missing: {ensemble.Name} averages {m}'s test probabilities; delete " +
                                               $"{Path.Combine(directory, m, $"seed-{k}", CellFile)} to score {m} seed {k} again (from its last checkpoint)");
            return StateDict.Read(file);
        }).ToList();
        var labels = members[0]["labels"];
        if (members.Any(m => !m["labels"].shape.SequenceEqual(labels.shape) || !m["labels"].eq(labels).all().item<bool>()))
            throw new InvalidDataException($"{study.Name}: the members of {ensemble.Name} were scored on different test images");
        var memberRuns = ensemble.Members.Select(m => runs.Single(r => r.Cell == m && r.Seed == k)).ToList();
        return new CellRun(ensemble.Name, k, EnsembleTop1(members.Select(m => m["probabilities"]).ToList(), labels),
            memberRuns.Sum(r => r.Parameters), memberRuns.Max(r => r.Depth),
            memberRuns.Sum(r => r.FusedLatencyMs), memberRuns.Sum(r => r.TrainSeconds)) { OneDnnOff = memberRuns.Any(r => r.OneDnnOff) };
    }

    /// <summary>Median batch-1 latency (ms) of the network's inference form in this process: fused where it fuses.</summary>
    static double FusedLatencyMs(ImageClassifier model, (int Channels, int Height, int Width) shape)
    {
        using var scope = NewDisposeScope();
        using var fused = model is ParNetModel ? ParNetFuser.Fuse(model) : null;
        var net = (nn.Module<Tensor, Tensor>?)fused ?? model;
        net.eval();
        using var noGrad = no_grad();
        return StudyLatency.MedianMs(net, randn(1, shape.Channels, shape.Height, shape.Width), warmup: 3, repeats: 20);
    }
}
