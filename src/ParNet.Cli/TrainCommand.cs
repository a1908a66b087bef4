using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using ParNet.Analysis;
using ParNet.Data;
using ParNet.Distributed;
using ParNet.Export;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Training;
using static TorchSharp.torch;

namespace ParNet.Cli;

/// <summary>`parnet train`: a recipe preset, every value overridable; checkpoints, logs and plots in a run folder.</summary>
public sealed partial class TrainCommand : CliCommand
{
    readonly Option<string?> _recipe = CliOption.Text("--recipe", "one of " + string.Join(", ", Recipes.Names) + " (default fashion-mnist: the main job's); " +
        "each option from --epochs to --image-size overrides one of its values, and defaults to the recipe's", "NAME");
    readonly TrainModelOptions _model = new();
    readonly Option<string?> _dataset = CliOption.DatasetName(string.Join(" | ", DataPipelines.Datasets.Select(d => d switch
    {
        "folder" => "folder (DIR/train, DIR/val)",
        "imagenet" => "imagenet (a folder in that layout)",
        _ => d,
    })) + " (default: the recipe's)");
    readonly Option<string?> _data = CliOption.Text("--data", $"where the data set is (default for fashion-mnist: {DataLocations.LocalFashionMnist}, then " +
        $"{DataLocations.SystemFashionMnist}, where scripts/install-data.sh puts it; required for the others; with --resume: the run's own, from its run.json)", "DIR");
    readonly Option<string?> _out = CliOption.Text("--out", "run folder (default runs/RECIPE-yyyyMMdd-HHmmss: one new folder per run)", "DIR");
    readonly Option<string?> _resume = CliOption.Text("--resume", "continue the run in DIR from checkpoints/last: the data and options it started with " +
        "(its run.json) apply unless given again, recipe values given here override its recipe's; not with --recipe, --model, --config, --width, --out or --pretrained", "DIR");
    readonly RecipeOptions _recipeOptions = new();
    readonly Option<int?> _threads = CliOption.Int("--threads", "torch threads per process (default: the machine's logical cores, shared among the MPI processes on it; a resumed run keeps the --threads it was given)");
    readonly Option<int?> _workers = CliOption.Int("--workers", $"data loader threads that decode and augment images (default {LoaderOptions.DefaultWorkers}: " +
        "the cores are better spent on the model; serve's --workers are model instances)");
    readonly Option<double?> _timeBudget = CliOption.Number("--time-budget", "stop (resumably) after this much time in this process (default: none)", "MINUTES");
    readonly Option<double?> _scheduleBudget = CliOption.Number("--schedule-budget", "fit the LR schedule into this much wall time of the run: " +
        "a machine too slow for the epochs anneals the LR anyway and ends early, complete (default: none)", "MINUTES");
    readonly Option<bool> _bf16 = CliOption.Switch("--bf16", "bfloat16 convolutions, activations and classifier; BatchNorm layers and the optimizer's master weights float32 (as autocast)");
    readonly Option<bool> _channelsLast = CliOption.ChannelsLast("channels_last tensors: faster oneDNN convolutions");
    readonly Option<string?> _classes = CliOption.Text("--classes", "only these classes, relabeled 0..k-1: e.g. 0-4 or 5,7,9 (an image folder's: ids in train/'s class list, val/'s matched by name) (default: all)", "IDS");
    readonly Option<string?> _pretrained = CliOption.Text("--pretrained", "fine-tune: start from these weights (trained weights in any format --weights reads, not fused ones or an .onnx; e.g. a released " +
        ".pth.tar); every key but the classifier must fit, the classifier is new for the data's classes, RGB input convolutions are summed for grey data", "W");
    readonly Option<bool> _pretrainedEma = CliOption.Switch("--pretrained-ema", "take the EMA weights (state_dict_ema) of a --pretrained training checkpoint");
    readonly Option<string?> _freeze = CliOption.Text("--freeze", "do not train: stem, streams (stem, streams and their entry blocks) or backbone " +
        "(everything but the classifier: a linear probe), or none (default: none, everything trains; a resumed run keeps its own, and " +
        "--freeze none unfreezes it: a linear probe, then the whole network)", "PART");
    readonly Option<bool> _freezeBn = CliOption.Switch("--freeze-bn", "keep every BatchNorm's running statistics as they start " +
        "(fine-tuning on small batches); their weights still train unless --freeze covers them");
    readonly Option<int?> _subset = CliOption.Int("--subset", "N training images per class (default: all)");
    readonly Option<int?> _testSubset = CliOption.Int("--test-subset", "N test images per class (default: all)");
    readonly Option<int?> _evalEvery = CliOption.Int("--eval-every", "evaluate every N epochs (default 1; always after the last)");
    readonly Option<bool> _syncBn = CliOption.Switch("--sync-bn", "under mpiexec: BatchNorm statistics over the global batch (SyncBatchNorm); " +
        "(default: each process's own batch, as DDP)");
    readonly Option<bool> _checkReplicas = CliOption.Switch("--check-replicas", "under mpiexec: after every step compare every process's weights " +
        "with rank 0's (a hash) and stop if any differs");
    readonly Option<double?> _collectiveTimeout = CliOption.Number("--collective-timeout", "under mpiexec: end the job when a collective has " +
        "waited this long for the other processes (one hung, stopped or unreachable; default 30, as torch.distributed's, at least " +
        "0.1: the wait is looked at once a second); after Ctrl-C or SIGTERM at most 2 minutes", "MINUTES");

    public override string Name => "train";
    public override bool ResultsOnStdout => false;   // progress there; the results are files
    public override bool DataParallel => true;
    public override string Summary => "train a model (recipes: " + string.Join(", ", Recipes.Names) + "). " +
        "Ctrl-C or SIGTERM saves a resumable checkpoint and exits (code 130; SIGTERM 143). A NaN/infinite loss or gradient, or non-finite weights or test loss at an epoch's end, stop the run before that epoch is saved (code 3).";

    protected override void Declare(Command command)
    {
        command.Add(_recipe);
        _model.AddTo(command);
        command.Add(_dataset, _data, _out, _resume);
        _recipeOptions.AddTo(command);
        command.Add(_threads, _workers, _timeBudget, _scheduleBudget, _bf16, _channelsLast, _classes, _subset, _testSubset, _evalEvery,
            _pretrained, _pretrainedEma, _freeze, _freezeBn, _syncBn, _checkReplicas, _collectiveTimeout);
    }

    /// <summary>The longest budget, 10 million minutes (19 years): far beyond any run, far inside what TimeSpan holds
    /// (about 1.5e10 minutes; 1e300 overflowed with a stack trace).</summary>
    const double LongestBudgetMinutes = 1e7;

    const double ShortestCollectiveTimeoutMinutes = 0.1;

    static void RequireMinutes(string option, double? minutes)
    {
        if (minutes is double m && m is <= 0 or > LongestBudgetMinutes)
            throw new UsageException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{option} {m}: minutes, more than 0 and at most {LongestBudgetMinutes:N0}"));
    }

    /// <summary>
    /// Under an MPI launcher (mpiexec -n N, srun --mpi=pmi2) every process runs this with its shard of the data;
    /// rank 0 prints and writes the run folder. A plain run loads no MPI library.
    /// </summary>
    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        using var group = MpiLaunch.Start();
        var launch = new TrainLaunch(group, Name);
        return launch.Run(() => Train(parse, group.Rank == 0 ? stdout : TextWriter.Null, stderr, launch), stderr);
    }

    /// <summary>What the command line (and a resumed run's run.json) resolved to, before anything is loaded: the plan, and
    /// what is printed or compared across processes as it was given.</summary>
    sealed record Resolved(TrainingRunPlan Plan, string RunDirectory, int Threads, CliOption.ThreadsSource ThreadsFrom, string? Pretrained, bool PretrainedEma, double? BudgetMinutes,
                           CollectiveLimits CollectiveLimits, bool DefaultRunDirectory);

    int Train(ParseResult parse, TextWriter stdout, TextWriter stderr, TrainLaunch launch)
    {
        var group = launch.Group;
        using var beforeTraining = new EndingSignals(signal =>
        {
            AtomicFile.AbandonWritesInProgress();   // the run folder's files being written (model.json.RANDOM.tmp was left)
            if (group.Rank == 0) stderr.WriteLine($"parnet train: {EndingSignals.What(signal)} before training began; no checkpoint was written");
            // a process the signal ends is reported by mpiexec (hydra) by the signal's number: Ctrl-C was exit 2, a usage
            // error's code, under a "BAD TERMINATION" banner (an MPI audit, session 46); ended here, with the shell's 130/143
            if (launch.Distributed)
            {
                stderr.Flush();
                Environment.Exit(EndingSignals.ExitCode(signal));
            }
        });
        var resolved = Resolve(parse, stderr, launch);
        set_num_threads(resolved.Threads);
        // setup's collectives (did every process load its data, the settings, the folder) wait for a process that may hang
        // (a data folder on a file system that stopped answering): the timeout holds there too; a signal ends setup anyway
        using var setupWatch = group.WatchCollectives(resolved.CollectiveLimits, CancellationToken.None, stall => launch.GiveUp(stall, null, stderr));
        using var run = UsageException.Wrap(() => TrainingRun.Prepare(resolved.Plan, group));
        launch.SetupSucceeded();
        string runDir = AgreeAcrossProcesses(resolved, run, launch);
        if (group.Rank == 0)
        {
            WriteRunFiles(run, runDir);
            RunCommandsLog.Append(runDir, parse.Tokens.Select(t => t.Value), resolved.Threads, group.Size, stderr);
        }
        if (run.FolderUnlocked is { } why) stderr.WriteLine($"parnet train: warning: {runDir}: {why}: nothing keeps another train out of this folder");
        setupWatch.Dispose();

        var renderer = ProgressRenderer.ForConsole(stdout, stderr);
        beforeTraining.Dispose();   // from here a signal stops the run at a step and saves it
        using var stop = new StopSignals();
        using var watch = group.WatchCollectives(resolved.CollectiveLimits, stop.Token, stall => launch.GiveUp(stall, stop, stderr));
        var clock = Stopwatch.StartNew();
        PrintHeader(stdout, stderr, resolved, run, runDir, launch);
        // the header states the options given now, which a finished run does not train with (a resume audit of session 44)
        string[] given = [.. parse.Tokens.Where(t => t.Type == System.CommandLine.Parsing.TokenType.Option && t.Value is not ("--resume" or "--threads" or "--workers"))
                                         .Select(t => t.Value).Distinct()];
        if (run.ResumesFinishedRun && given.Length > 0)
            stdout.WriteLine($"resume: nothing trains, so {string.Join(", ", given)} {(given.Length == 1 ? "is" : "are")} not applied; the run's files keep how it trained");
        try
        {
            using var trainer = run.CreateTrainer(runDir, group.Rank == 0 ? renderer : null);
            var result = trainer.Run(stop.Token);
            renderer.EndLine();
            return PrintOutcome(stdout, result, trainer, resolved.Plan.Recipe, runDir, stop, clock, launch);
        }
        catch (TrainingDivergedException e)
        {
            renderer.EndLine();
            if (group.Rank == 0) stderr.WriteLine($"parnet train: {OptionNames.Worded(e)}");   // every process found it (one all-reduce), rank 0 says it
            return 3;
        }
        catch (UnreadableDataException e)   // saved: every process stopped at one step; rank 0 says it, after the progress line
        {
            renderer.EndLine();
            if (group.Rank == 0) stderr.WriteLine($"parnet train: {e.Message}");
            return CommandRunner.UsageExitCode;
        }
    }

    /// <summary>The run's recipe, model and settings from the options, a resumed run's checkpoint and run.json, and the
    /// recipe's defaults; every refusal of a combination of options, before minutes of loading.</summary>
    Resolved Resolve(ParseResult parse, TextWriter stderr, TrainLaunch launch)
    {
        var group = launch.Group;
        string? resumeDir = parse.GetValue(_resume);
        var (recipe, resumedModel, saved) = resumeDir is null ? (StartedRecipe(parse), null, null) : Resumed(parse, stderr, resumeDir, group);
        UsageException.Wrap(() => recipe.Validate());   // before the model is built: its dropouts come from the recipe
        _recipeOptions.RequireReadBySchedule(parse, recipe);
        // A resumed run continues with the options it was started with (run.json) unless they are given again.
        string dataset = parse.GetValue(_dataset) ?? saved?.Dataset ?? recipe.Dataset;
        string? data = RunDataFolder.Resolve(parse.GetValue(_data), saved?.DataDirectory);
        // the Fashion-MNIST folder found by default (data/fashion-mnist under the working folder comes first) is recorded: run.json
        // said null, so the folder did not say which files trained it, and a resume from another folder read others without a word
        string? found = data is null ? DataLocations.FolderRead(dataset, null) : null;   // none found: said where the data is loaded
        if (found is not null && saved?.DataFolderFound is string before && before != found && group.Rank == 0)
            stderr.WriteLine($"parnet train: warning: the run read Fashion-MNIST from {before}; from this working folder it is found in {found}, " +
                             $"which goes on now: give --data {ShellWords.Quote(before)} to train on the same files");
        if (_recipeOptions.ImageSizeGiven(parse) && !DataPipelines.IsFolderLayout(dataset))   // it was ignored there
            throw new UsageException($"--image-size sets the side of an image-folder data set; {dataset} has images of its own size");
        int[]? classes = parse.GetValue(_classes) is { } ids ? UsageException.Wrap(() => ClassSelection.Parse(ids), "--classes") : saved?.Classes?.ToArray();
        if (resumeDir is not null && saved is not null) RequireSameData(parse, resumeDir, saved, classes);
        string? pretrained = parse.GetValue(_pretrained);
        bool pretrainedEma = parse.GetValue(_pretrainedEma);
        if (resumeDir is not null && (pretrained is not null || pretrainedEma))
            throw new UsageException($"{(pretrained is not null ? "--pretrained" : "--pretrained-ema")} starts a run from pretrained weights; --resume continues one from its checkpoint");
        if (pretrainedEma && pretrained is null) throw new UsageException("--pretrained-ema goes with --pretrained W");
        if (resumeDir is null && pretrained is null && recipe.Name == Recipes.FineTune.Name)   // its LR is a tenth of training from scratch
            throw new UsageException("--recipe finetune fine-tunes --pretrained W; to train from scratch take another recipe (fashion-mnist, cifar, imagenet)");
        var (model, modelFromPretrained, pretrainedSide) = resumedModel is not null ? (resumedModel, false, null) : NewModel(parse, recipe, dataset, data, classes, pretrained, pretrainedEma);
        // fine-tuning on an image folder trains at the side the pretrained network was trained at (stored with its weights, else
        // its layout's), not the recipe's 32 px, where an ImageNet-layout network's last stage has 1x1 maps (an audit of session 45)
        if (pretrained is not null && DataPipelines.IsFolderLayout(dataset) && !_recipeOptions.ImageSizeGiven(parse))
            recipe = recipe with { ImageSize = pretrainedSide ?? model.DefaultImageSize };
        // recipe.json says what trains: the network in place of the recipe's default, and which values the options changed
        if (resumedModel is null) recipe = _model.Recorded(parse, recipe, model, modelFromPretrained);
        if (Recipes.All.FirstOrDefault(r => r.Name == recipe.Name) is { } preset) recipe = recipe.DescribedAgainst(preset);
        bool defaultFolder = resumeDir is null && parse.GetValue(_out) is null;
        string runDir = resumeDir ?? parse.GetValue(_out) ?? Path.Combine("runs", $"{recipe.Name}-{DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}");
        if (!defaultFolder && FolderLock.HolderOf(runDir) is { } holder)   // before minutes of loading; the hold is taken when the folder is written
            throw new UsageException(new FolderInUseException(runDir, holder).Message);
        if (resumeDir is null && !defaultFolder) UsageException.Wrap(() => TrainingRun.RequireNoRunIn(runDir), "--out");   // before minutes of loading (a default folder is made new)
        int? threadsGiven = parse.GetValue(_threads) ?? saved?.Threads;
        int threads = threadsGiven ?? CliOption.DefaultThreads(group.ProcessesOnThisMachine);
        int workers = parse.GetValue(_workers) ?? LoaderOptions.DefaultWorkers;
        double? budgetMinutes = parse.GetValue(_timeBudget);
        double? scheduleMinutes = parse.GetValue(_scheduleBudget);
        bool bf16 = parse.Given(_bf16) ? parse.GetValue(_bf16) : saved?.BFloat16 ?? false;
        bool channelsLast = parse.Given(_channelsLast) ? parse.GetValue(_channelsLast) : saved?.ChannelsLast ?? true;
        int? subset = parse.GetValue(_subset) ?? saved?.SubsetPerClass, testSubset = parse.GetValue(_testSubset) ?? saved?.TestSubsetPerClass;
        int evalEvery = parse.GetValue(_evalEvery) ?? saved?.EvalEvery ?? 1;
        FreezeScope freeze = ParseFreeze(parse, saved);
        bool freezeBn = parse.Given(_freezeBn) ? parse.GetValue(_freezeBn) : saved?.FreezeBatchNorm ?? false;
        if (resumeDir is null && pretrained is null && (freeze != FreezeScope.None || freezeBn))   // frozen random weights learn nothing
            throw new UsageException($"{(freeze != FreezeScope.None ? "--freeze" : "--freeze-bn")} keeps pretrained weights or statistics as they are: it goes with --pretrained W");
        CliOption.RequireAtLeastOne("--threads", threads);
        CliOption.RequireAtLeastOne("--subset", subset, "training images per class");
        CliOption.RequireAtLeastOne("--test-subset", testSubset, "test images per class");
        CliOption.RequireAtLeastOne("--eval-every", evalEvery, "epochs");
        RequireMinutes("--time-budget", budgetMinutes);
        RequireMinutes("--schedule-budget", scheduleMinutes);
        double? collectiveMinutes = parse.GetValue(_collectiveTimeout);
        RequireMinutes("--collective-timeout", collectiveMinutes);
        if (collectiveMinutes < ShortestCollectiveTimeoutMinutes)   // a second's look at a wait of a few: a slow step would end the job
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"--collective-timeout {collectiveMinutes}: at least {ShortestCollectiveTimeoutMinutes} minutes (the wait is looked at once a second)"));
        // each acts on the collectives of several processes: in one they did nothing, --check-replicas and --collective-timeout
        // without a word (cross-command audit, session 43); a resumed run keeps its --sync-bn (one process: its batch is all)
        bool syncBn = parse.Given(_syncBn) ? parse.GetValue(_syncBn) : saved?.SyncBatchNorm ?? false;
        string? multiProcess = parse.GetValue(_syncBn) ? "--sync-bn" : parse.GetValue(_checkReplicas) ? "--check-replicas" : collectiveMinutes is not null ? "--collective-timeout" : null;
        if (multiProcess is not null && !launch.Distributed)
            throw new UsageException($"{multiProcess} needs several processes: start the run with an MPI launcher (mpiexec -n N parnet train ...); this is one process");

        var plan = new TrainingRunPlan
        {
            Recipe = recipe, Model = model, ResumeDirectory = resumeDir, Workers = workers,
            ModelFromPretrained = modelFromPretrained,
            Settings = new RunSettings
            {
                Dataset = dataset, DataDirectory = data is null ? null : Path.GetFullPath(data), DataFolderFound = found, SubsetPerClass = subset,
                TestSubsetPerClass = testSubset, EvalEvery = evalEvery, ChannelsLast = channelsLast, BFloat16 = bf16, Threads = threadsGiven,
                ClassNames = saved?.ClassNames, Classes = classes, Freeze = freeze, FreezeBatchNorm = freezeBn, SyncBatchNorm = syncBn,
                Pretrained = pretrained is null ? saved?.Pretrained : Path.GetFullPath(pretrained),
                PretrainedEma = pretrained is null ? saved?.PretrainedEma ?? false : pretrainedEma,
            },
            TimeBudget = budgetMinutes is double m ? TimeSpan.FromMinutes(m) : null,
            ScheduleBudget = scheduleMinutes is double sm ? TimeSpan.FromMinutes(sm) : null,
            CheckReplicas = parse.GetValue(_checkReplicas),
        };
        var threadsFrom = parse.GetValue(_threads) is not null ? CliOption.ThreadsSource.Typed
            : threadsGiven is not null ? CliOption.ThreadsSource.RunJson : CliOption.ThreadsSource.Default;
        var collectiveLimits = CollectiveLimits.For(collectiveMinutes is double cm ? TimeSpan.FromMinutes(cm) : CollectiveLimits.DefaultTimeout);
        return new Resolved(plan, runDir, threads, threadsFrom, pretrained, pretrainedEma, budgetMinutes, collectiveLimits, defaultFolder);
    }

    /// <summary>A new run's recipe: --recipe (default fashion-mnist, the main job's) with the options that override it.</summary>
    Recipe StartedRecipe(ParseResult parse)
    {
        string recipeName = parse.GetValue(_recipe) ?? "fashion-mnist";
        return _recipeOptions.Apply(parse, UsageException.Wrap(() => Recipes.Get(recipeName)));
    }

    /// <summary>A new run's model, once the data set is known: --model/--config, else for fine-tuning the network stored with
    /// the --pretrained weights (with a new classifier), else the recipe's; and whether it is the pretrained weights' network.</summary>
    (ModelConfig Model, bool FromPretrained, int? PretrainedSide) NewModel(ParseResult parse, Recipe recipe, string dataset, string? data, int[]? classes, string? pretrained, bool pretrainedEma)
    {
        var storedInfo = pretrained is not null && !_model.Given(parse)
            ? UsageException.Wrap(() => ClassifierLoader.Stored(pretrained, WeightsLoading.Pick(pretrainedEma)), "--pretrained") : null;
        var stored = storedInfo is null ? null
            : storedInfo.Model
              // not the recipe's model, whose keys the weights then failed to match one by one
              ?? throw new UsageException($"--pretrained {pretrained}: no model configuration stored with these weights; give the network " +
                                          "they were trained as with --model NAME or --config FILE");
        // the side the weights were trained at, stored with them, also where --model or --config names their network (review, session 45)
        int? side = storedInfo is not null ? storedInfo.ImageSize
            : pretrained is null ? null : UsageException.Wrap(() => DeploymentInfo.ForWeights(Checkpoint.RequireWeightsFile(pretrained, "pretrained weights")).ImageSize, "--pretrained");
        return (_model.Build(parse, recipe, dataset, data, classes?.Length, stored, newClassifier: pretrained is not null), stored is not null, side);
    }

    FreezeScope ParseFreeze(ParseResult parse, RunSettings? saved) =>
        parse.GetValue(_freeze) is { } part
            ? Enum.TryParse<FreezeScope>(part, ignoreCase: true, out var f) && part.All(char.IsLetter) ? f   // none: a resume unfreezes
                : throw new UsageException($"--freeze {part}: use stem, streams, backbone or none")
            : saved?.Freeze ?? FreezeScope.None;

    /// <summary>Under several processes: refuses processes that resolved different settings or loaded different data (the
    /// same --data naming other folders: they ran an epoch and died in an all-reduce with MPI's error code), and returns
    /// rank 0's run folder (its default name holds the time, which differs between processes). Every setting that decides
    /// whether a collective runs or what a step computes is here: --check-replicas on some ranks only left them waiting in
    /// different collectives, for ever, deaf to SIGTERM; a --schedule-budget on one rank ended its schedule alone (audit and
    /// review of session 36).</summary>
    static string AgreeAcrossProcesses(Resolved resolved, TrainingRun run, TrainLaunch launch)
    {
        if (!launch.Distributed) return MadeRunFolder(resolved);
        var (plan, s) = (resolved.Plan, resolved.Plan.Settings);
        launch.RequireSameSettings(string.Join("\n", plan.Recipe.ToJson(), plan.Model.ToJson(), s.Dataset, s.SubsetPerClass, s.TestSubsetPerClass,
            s.Classes is null ? "" : string.Join(",", s.Classes), s.BFloat16, s.ChannelsLast, s.SyncBatchNorm, plan.CheckReplicas, s.EvalEvery,
            s.Freeze, s.FreezeBatchNorm, resolved.Pretrained, plan.ResumeDirectory, resolved.BudgetMinutes, plan.ScheduleBudget?.TotalSeconds,
            run.TrainData.DatasetCount, run.TestData.DatasetCount, string.Join("\n", run.TrainData.ClassNames)));
        string runDir = launch.Group.BroadcastText(launch.Group.Rank == 0 ? MadeRunFolder(resolved) : "");   // its default name holds the time, which differs between processes
        launch.ResumeHint = $"the last checkpoint stays as it was: continue with parnet train --resume {ShellWords.Quote(runDir)} (alone or under mpiexec -n M: any M from an epoch's end; from within one, where M x the batch divides the images done in that epoch)";
        return runDir;
    }

    /// <summary>The run folder; a default one (runs/RECIPE-TIME) made here, by this process alone (<see cref="NewFolder"/>):
    /// two trains started in the same second shared one.</summary>
    static string MadeRunFolder(Resolved resolved)
    {
        if (!resolved.DefaultRunDirectory) return resolved.RunDirectory;
        try { return NewFolder.Make(resolved.RunDirectory); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"the run folder {resolved.RunDirectory} cannot be made: {RealPath.DanglingLink(resolved.RunDirectory) ?? e.Message}");
        }
    }

    static void WriteRunFiles(TrainingRun run, string runDir)
    {
        try { UsageException.Wrap(() => run.WriteRunFiles(runDir), "--out"); }   // a run made there since the check before loading
        catch (FolderInUseException e) { throw new UsageException(e.Message); }   // taken since that check
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {   // the OS's words alone ("Could not find file '/proc/x'") do not say which of the run's paths failed
            throw new UsageException($"the run folder {runDir} cannot be written: {RealPath.DanglingLink(runDir) ?? e.Message}");
        }
    }

    /// <summary>What is trained on what, how, and where; the processes of an MPI job; the pretrained and frozen parts.</summary>
    static void PrintHeader(TextWriter stdout, TextWriter stderr, Resolved resolved, TrainingRun run, string runDir, TrainLaunch launch)
    {
        var (recipe, model, s) = (resolved.Plan.Recipe, resolved.Plan.Model, resolved.Plan.Settings);
        var (train, test) = (run.TrainData, run.TestData);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"train: {model.Name} (planes {string.Join("/", model.Planes)}, {ModelSummary.CountParameters(run.Model):N0} parameters) on {DataDescription.Of(s.Dataset, s.DataDirectory, train.ClassNames.Count)}{(!DataPipelines.IsFolderLayout(s.Dataset) && (s.DataDirectory ?? s.DataFolderFound) is string from ? $" (from {from})" : "")} {train.ImageShape.Channels}x{train.ImageShape.Height}x{train.ImageShape.Width}, " +
            $"{train.DatasetCount} train / {test.DatasetCount} test images; recipe {recipe.Name}: {recipe.Epochs} epoch{(recipe.Epochs == 1 ? "" : "s")}{ScheduleBudget(resolved, run)}, batch {recipe.BatchSize}{(launch.Distributed ? " per process" : "")}, LR {recipe.ScaledLr(recipe.BatchSize * launch.Group.Size):G4} {recipe.Schedule}" +
            $"{(recipe.WarmupEpochs > 0 ? $" (warm-up {recipe.WarmupEpochs})" : "")}, wd {recipe.WeightDecay:G3}, LS {recipe.LabelSmoothing}, " +
            $"{(s.BFloat16 ? "bfloat16" : "float32")}, {resolved.Threads} thread{(resolved.Threads == 1 ? "" : "s")}; run folder {Path.GetFullPath(runDir)}"));
        stdout.WriteLine($"cpu: {CpuCapabilities.Current.Describe()}");
        if (launch.Distributed)
        {
            var group = launch.Group;
            int globalBatch = recipe.BatchSize * group.Size;
            // DistributedSampler's evening: the last few images of each epoch's order train twice (an audit found it unsaid)
            int perProcess = new Shard(0, group.Size, PadToEqual: true).Length(train.DatasetCount), repeated = perProcess * group.Size - train.DatasetCount;
            string lr = recipe.ReferenceBatchSize is null
                ? string.Create(CultureInfo.InvariantCulture, $"the recipe's LR {recipe.Lr:G4} at any batch: it names no reference batch to scale from")
                : string.Create(CultureInfo.InvariantCulture, $"the LR scales with it: {recipe.ScaledLr(globalBatch):G4}");
            stdout.WriteLine(
                $"mpi: {group.Size} processes (pids {string.Join(", ", group.AllGather(Environment.ProcessId).Select((pid, rank) => $"rank {rank} {pid}"))}: " +
                $"the launcher names a lost process by its pid); batch {recipe.BatchSize} per process, global batch {globalBatch} ({lr}); " +
                $"{perProcess:N0} train images per process an epoch{(repeated > 0 ? $" ({repeated:N0} of the epoch's order twice, to even the shards)" : "")}; " +
                $"{(s.SyncBatchNorm ? "BatchNorm statistics over the global batch (--sync-bn)" : "BatchNorm statistics per process")}");
        }
        if (run.FromPretrained is { } fromPretrained)
            stdout.WriteLine($"pretrained: {fromPretrained.LoadedTensors} tensors from {resolved.Pretrained}{(resolved.PretrainedEma ? " (EMA weights)" : "")}, " +
                             $"a new classifier for {model.NumClasses} classes" +
                             (fromPretrained.AdaptedInputConvolutions.Count > 0 ? $"; RGB filters summed for grey input in {string.Join(", ", fromPretrained.AdaptedInputConvolutions)}" : ""));
        if (s.Freeze != FreezeScope.None)
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"frozen: {s.Freeze.ToString().ToLowerInvariant()} (its {run.Frozen.BatchNorms.Count} BatchNorms keep their statistics); {run.Frozen.TrainableParameters:N0} parameters train"));
        if (s.FreezeBatchNorm) stdout.WriteLine("frozen: every BatchNorm's running statistics (--freeze-bn); their weights train unless --freeze covers them");
        if (launch.Group.Rank != 0) return;   // the warnings once per job, not once per process
        if (s.BFloat16 && CpuCapabilities.Current.Bf16Warning() is { } slow) stderr.WriteLine($"parnet train: warning: --bf16: {slow}");
        if (CliOption.ThreadsBeyondCores(resolved.Threads, launch.Group.ProcessesOnThisMachine, source: resolved.ThreadsFrom) is { } tooMany)
            stderr.WriteLine($"parnet train: warning: {tooMany}");
    }

    /// <summary>", LR schedule within 12 min": the run's schedule budget, and on a resume how much of it is spent and, where
    /// the run keeps its own, how to change it (a resumed run kept it without a word: the left items of session 44).</summary>
    static string ScheduleBudget(Resolved resolved, TrainingRun run)
    {
        if (run.ScheduleBudget is not { } budget) return "";
        string minutes = string.Create(CultureInfo.InvariantCulture, $"{budget.TotalMinutes:0.###} min");
        if (resolved.Plan.ResumeDirectory is null) return $", LR schedule within {minutes} (--schedule-budget)";
        string spent = string.Create(CultureInfo.InvariantCulture, $"{run.TimeSoFar.TotalMinutes:0.#} min of it spent");
        return resolved.Plan.ScheduleBudget is null
            ? $", LR schedule within the run's {minutes} ({spent}; --schedule-budget MINUTES sets another)"
            : $", LR schedule within {minutes} (--schedule-budget; {spent})";
    }

    /// <summary>Rank 0's time in collectives, why the run stopped and how to continue it, and its accuracies; the exit code.</summary>
    static int PrintOutcome(TextWriter stdout, TrainResult result, Trainer trainer, Recipe recipe, string runDir, StopSignals stop, Stopwatch clock, TrainLaunch launch)
    {
        if (launch.Distributed)
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"mpi: rank 0 spent {trainer.Communication.Time.TotalSeconds:F2} s of {clock.Elapsed.TotalSeconds:F1} s in {trainer.Communication.Calls} collectives; " +
                $"gradients all-reduced per step: {trainer.GradientBytesPerStep:N0} bytes" +
                $"{(trainer.ReplicaChecks > 0 ? $"; weights bit-identical on all processes after each of {trainer.ReplicaChecks} steps" : "")}"));
        var last = result.State.History.LastOrDefault();
        switch (result.Reason)
        {
            case StopReason.Interrupted:
                stdout.WriteLine($"{stop.What}: checkpoint saved in {Path.GetFullPath(result.LastCheckpoint)}; continue with: parnet train --resume {ShellWords.Quote(runDir)}");
                return stop.ExitCode;
            case StopReason.TimeBudget:
                stdout.WriteLine($"time budget reached after {ProgressRenderer.Eta(clock.Elapsed)}: checkpoint saved; continue with: parnet train --resume {ShellWords.Quote(runDir)} --time-budget MINUTES");
                break;
            case StopReason.Completed when result.ScheduleBudgetEnded:   // also within the last epoch
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"the schedule budget ({result.State.ScheduleBudgetSeconds / 60:0.###} min) ended the LR schedule, annealed, in epoch {result.State.Epoch} of {recipe.Epochs}"));
                break;
        }
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"done in {ProgressRenderer.Eta(clock.Elapsed)}: {result.State.Epoch} epoch{(result.State.Epoch == 1 ? "" : "s")}; last test top-1 {(last?.TestAccuracy is double a ? $"{a * 100:F2}% (epoch {last.Epoch})" : "n/a")}, " +
            $"best {(result.State.BestAccuracy >= 0 ? $"{result.State.BestAccuracy * 100:F2}% (epoch {result.State.BestEpoch})" : "n/a (not evaluated yet)")}; run folder {Path.GetFullPath(runDir)}"));
        // the scores are the EMA weights', and every command but eval --run takes a checkpoint's model weights unless told
        if (recipe.EmaDecay > 0 && result.State.BestAccuracy >= 0)
            stdout.WriteLine("the test scores are the EMA weights' (ema.safetensors beside each checkpoint's model.safetensors): " +
                             "give --ema to predict, serve, fuse, convert and export for the weights scored");
        return 0;
    }
}
