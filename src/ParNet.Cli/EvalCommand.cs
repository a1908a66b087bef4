using ParNet.Models.Tracing;
using System.CommandLine;
using System.Globalization;
using ParNet.Data;
using ParNet.Export;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Training;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Cli;

/// <summary>`parnet eval`: top-1/top-5, per-class accuracy, confusion matrix (CSV + PNG); ten-crop, other resolutions, fused weights.</summary>
public sealed class EvalCommand : CliCommand
{
    readonly Option<string?> _run = CliOption.Text("--run", "a training run folder (model, data set and recipe come from it); or give --weights", "DIR");
    readonly Option<string?> _checkpoint = CliOption.Text("--checkpoint", "last or best, with --run (default last: the end of training)", "NAME");
    readonly Option<bool> _ema = CliOption.Switch("--ema", "the EMA weights: of the --run checkpoint (default: on when the run trained with EMA; --ema false: its model weights, which every other command takes by default), or of a --weights checkpoint (a .pth.tar's state_dict_ema or model_ema, the ema.safetensors beside a run's model.safetensors)");
    readonly Option<string?> _weights = CliOption.Text("--weights", WeightsLoading.Description + ", or an exported .onnx (float32 or int8, run by ONNX Runtime); instead of --run", "W");
    readonly Option<string?> _recipe = CliOption.Text("--recipe", "with --weights: the recipe whose data set, crop padding and " +
        "default model apply (default fashion-mnist, the main job's)", "NAME");
    readonly TrainModelOptions _model = new();
    readonly Option<string?> _dataset = CliOption.DatasetName("fashion-mnist | cifar10 | cifar100 | folder | imagenet (a folder in its layout) " +
        "(default: the run's; with --weights, the one stored with them, else the recipe's)");
    readonly Option<string?> _data = CliOption.Text("--data", "where the data set is (default: with --run, the run's own, from its run.json; else as for train)", "DIR");
    readonly Option<string?> _split = CliOption.Text("--split", "test or train (default test; folders: val or train, test meaning val/)", "SPLIT");
    readonly Option<bool> _tenCrop = CliOption.Switch("--ten-crop", "average the 10 crops (corners, centre, mirrored) of the image padded by the crop padding (at least 1 pixel)");
    readonly Option<bool> _flip = CliOption.Switch("--flip", "also score each image's mirror image and average the two (flip test-time augmentation; not with --ten-crop, whose ten views hold each crop's mirror image already)");
    readonly Option<int?> _size = CliOption.Int("--image-size", "evaluate at another input side in pixels (Fashion-MNIST content is scaled by PX/32) " +
                                                "(default: the training side; --size: its older name)", "PX",
                                                aliases: "--size");   // the name of predict, export, bench and info; --size before
    readonly Option<bool> _fused = CliOption.Switch("--fused", "re-parameterize the trained model first (ParNet fusion) and evaluate that " +
        "(default: the weights as stored, unfused; predict, serve and export fuse by default)");
    readonly Option<bool> _winograd = CliOption.Switch("--winograd", "run the 3x3 stride-1 convs as Winograd F(4x4, 3x3) on channels_last maps, " +
        "as predict and serve --engine torch-winograd do (what that engine scores)");
    readonly Option<int?> _batchSize = CliOption.Int("--batch-size", $"images per batch (default {EvaluationDefaults.BatchSize}: no gradients, so larger than training's; " +
        "fewer, said on stderr, where that would not fit in memory; 1 for an .onnx graph fixed to batch 1; a given N that cannot fit is refused)");
    readonly Option<int?> _threads = CliOption.Int("--threads", $"threads of the forward passes (torch.set_num_threads; ONNX Runtime's intra-op threads for an .onnx) " +
        $"(default: all logical cores, {Environment.ProcessorCount} here)");
    readonly Option<int?> _subset = CliOption.Int("--subset", "N images per class (default: all)");
    readonly Option<string?> _classes = CliOption.Text("--classes", "only these classes, relabeled 0..k-1, e.g. 5-9 (an image folder's: ids in train/'s class list) (default: the run's, or those the weights' stored class names give, else all)", "IDS");
    readonly Option<string?> _out = CliOption.Text("--out", "report folder: confusion.csv, confusion.png, per_class.csv, summary.json " +
        "(default RUN/eval-CHECKPOINT[-Npx][-tencrop][-flip][-fused][-winograd][-SPLIT][-subsetN][-classesIDS][-noema], or runs/eval[-...][-ema]-STAMP with --weights)", "DIR");

    public override string Name => "eval";
    public override string Summary => "evaluate a run or weights: top-1/5, per-class accuracy, confusion matrix";

    protected override void Declare(Command command)
    {
        command.Add(_run, _checkpoint, _ema, _weights, _recipe);
        _model.AddTo(command);
        command.Add(_dataset, _data, _split, _tenCrop, _flip, _size, _fused, _winograd, _batchSize, _threads, _subset, _classes, _out);
    }

    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        string? run = parse.GetValue(_run);
        string? weights = parse.GetValue(_weights);
        if ((run is null) == (weights is null))
            throw new UsageException(run is null ? "give --run DIR or --weights W" : "give --run DIR or --weights W, not both");
        // it scored the same numbers at twice the time (walk E, session 28): torchvision's TenCrop is five crops and their mirrors
        if (parse.GetValue(_flip) && parse.GetValue(_tenCrop))
            throw new UsageException("--flip with --ten-crop: the ten views are five crops and their mirror images already; give one of them");
        string checkpointName = parse.GetValue(_checkpoint) ?? Checkpoint.Last;
        bool? emaFlag = parse.Given(_ema) ? parse.GetValue(_ema) : null;
        string? data = parse.GetValue(_data);
        int[]? givenClasses = parse.GetValue(_classes) is { } ids ? UsageException.Wrap(() => ClassSelection.Parse(ids), "--classes") : null;
        RunSettings? saved = null;
        string? storedDataset = null;
        IReadOnlyList<string>? storedClassNames = null;   // --weights: the class names stored with them, checked against the data's
        int? storedSide = null;   // --weights: the side stored with them, or (without --recipe) an ImageNet-layout model's 224
        Recipe recipe;
        ModelConfig config;
        string? weightsPath = weights;
        bool assumedRecipeModel = false;   // --weights that store no configuration, read as the recipe's default model
        bool notRunDefaultWeights = false;   // --run --ema false of a run that has EMA weights: not the default report's weights
        bool scoredEma = false;   // the EMA weights are scored: a run's default or --ema, a --weights file's --ema
        int[]? classesOfRun = null;   // --weights RUN/checkpoints/NAME/...: the classes the run trained on (its run.json)
        bool onnxFile = weights is not null && ParNet.Inference.PredictorSource.IsOnnxFile(weights);   // a --run's weights are safetensors
        if (run is not null)
        {
            if (parse.Given(_recipe) || _model.Given(parse))
                throw new UsageException("--run evaluates the run's own recipe and model; do not pass --recipe/--model/--config/--width");
            string ckpt = Checkpoint.In(run, checkpointName);
            if (Checkpoint.Locate(ckpt) is null)
                throw new UsageException($"--run {run}: no checkpoint '{checkpointName}' there (a run keeps 'last' and, once evaluated, 'best')");
            var state = Checkpoint.ReadState(ckpt);
            saved = RunSettings.Load(run);   // the run's data set and folder, unless given here
            data = RunDataFolder.Resolve(data, saved?.DataDirectory);
            recipe = state.Recipe;
            config = state.Model;
            var chosen = Checkpoint.ChooseWeights(ckpt, emaFlag);
            (notRunDefaultWeights, scoredEma) = (!chosen.Default, chosen.Ema);
            weightsPath = chosen.Path;
            // the side it trained at, stored with its weights: a study's resolution cells (16, 48 px) were scored at the
            // recipe's 32 (study audit, session 40)
            storedSide = DeploymentInfo.ForWeights(weightsPath).ImageSize;
        }
        else
        {
            // both were ignored without a word: --checkpoint best scored the given file, --ema an .onnx file's only weights
            if (parse.Given(_checkpoint))
                throw new UsageException("--checkpoint picks a checkpoint of a --run; with --weights give that checkpoint's file");
            if (onnxFile && emaFlag == true)
                throw new UsageException("--ema picks the EMA weights of a --run or a training checkpoint (.pth.tar); an .onnx file holds one set of weights");
            // --ema, or a training checkpoint's EMA file given itself (it was recorded as not EMA: review, session 45)
            scoredEma = emaFlag == true || (!onnxFile && Checkpoint.FileOf(weights!) is { Name: Checkpoint.EmaFile });
            string recipeName = parse.GetValue(_recipe) ?? "fashion-mnist";
            recipe = UsageException.Wrap(() => Recipes.Get(recipeName));
            // the model and data set stored with the weights (a run's checkpoint, a converted or fused file), unless given here
            // (with --model/--config given, the weights' own record only: no second read of a checkpoint for its YAML)
            var stored = onnxFile ? null
                : _model.Given(parse) ? DeploymentInfo.ForWeights(weights!) with { Model = null }
                : ClassifierLoader.Stored(weights!, WeightsLoading.Pick(emaFlag == true));
            assumedRecipeModel = !onnxFile && !_model.Given(parse) && stored?.Model is null;
            storedDataset = stored?.Dataset;
            storedClassNames = stored?.ClassNames;
            // a run checkpoint's file reads the run's data folder and classes, as --run does and export --int8 does (before the
            // model is built: a model given here counts its classes from that data)
            if (!onnxFile && parse.GetValue(_dataset) is null && RunSettings.OfCheckpointFile(weights!) is { } runOfFile)
            {
                data = RunDataFolder.Resolve(data, runOfFile.DataDirectory);
                classesOfRun = runOfFile.Classes?.ToArray();
            }
            config = _model.Build(parse, recipe, parse.GetValue(_dataset) ?? storedDataset ?? recipe.Dataset, data, (givenClasses ?? classesOfRun)?.Length, stored?.Model,
                                  folderSplit: parse.GetValue(_split) == "train" ? "train" : "val");   // the split it reads: a download may hold val/ alone
            // the side stored with the weights, --recipe or not (`--recipe finetune` scored 64 px weights at the recipe's 32,
            // without a word: cross-command audit, session 43); without one, an ImageNet-layout model's own side, unless a
            // recipe was named (the default recipe's 32 px is the Fashion-MNIST network's, not every model's)
            storedSide = stored?.SideFor(config) ?? (!parse.Given(_recipe) && config.Layout == Layout.ImageNet ? config.DefaultImageSize : null);
        }
        // an exported .onnx (float32 or int8) runs in ONNX Runtime; its metadata names the model and the data set
        using var onnx = onnxFile ? OnnxEvaluation(weightsPath!, parse) : null;
        if (onnx?.Engine.Info.Model is { } exported) config = exported;
        string modelName = config.Name;
        if (onnx is not null && onnx.Engine.Info.Model is null)
            (config, modelName) = (ForeignOnnx(onnx.Engine, config), Path.GetFileName(weightsPath!));
        storedClassNames ??= onnx?.Engine.Info.ClassNames;
        string dataset = parse.GetValue(_dataset) ?? saved?.Dataset ?? storedDataset ?? onnx?.Engine.Info.Dataset ?? recipe.Dataset;
        string split = parse.GetValue(_split) ?? "test";
        bool tenCrop = parse.GetValue(_tenCrop);
        bool flip = parse.GetValue(_flip);
        int? size = parse.GetValue(_size);
        bool fused = parse.GetValue(_fused);
        bool winograd = parse.GetValue(_winograd);
        if (winograd && onnx is not null) throw new UsageException("--winograd is for weights that TorchSharp runs; an .onnx file runs in ONNX Runtime");
        if (winograd && !WinogradConvolution.IsSupported) throw new UsageException($"--winograd: {WinogradConvolution.UnsupportedReason}");
        int batchSize = parse.GetValue(_batchSize) ?? (onnx?.Engine.InputShape[0] == 1 ? 1 : EvaluationDefaults.BatchSize);
        if (onnx?.Engine.InputShape[0] is long fixedBatch and > 0 && (fixedBatch > 1 || batchSize != 1))
            throw new UsageException($"{weightsPath} {OnnxRuntimeEngine.ExactBatch(fixedBatch)}: " +
                                     (fixedBatch == 1 ? "leave --batch-size out, or give 1" : "export it with a dynamic batch axis; eval's last batch is smaller"));
        int threads = parse.GetValue(_threads) ?? Environment.ProcessorCount;
        int? subset = parse.GetValue(_subset);
        // libtorch aborts the process on 0 threads (c10::Error, no message of ours); --subset 0 scored no image and
        // crashed writing its NaN accuracy to summary.json
        CliOption.CheckThreads(threads, Name, stderr);
        CliOption.RequireAtLeastOne("--subset", subset, "images per class");
        CliOption.RequireAtLeastOne("--batch-size", batchSize, "images");   // the loader said "batch size must be positive", naming no option
        // weights trained on some of a data set's classes (--classes 5-9) store their names: those classes, as predict uses them
        int[]? classes = givenClasses ?? saved?.Classes?.ToArray() ?? (run is null ? classesOfRun ?? DeploymentInfo.ClassIdsIn(dataset, storedClassNames, data) : null);
        string? outDir = parse.GetValue(_out);

        set_num_threads(threads);
        // an .onnx file takes the side it was exported at, not the recipe's
        int? side = size ?? onnx?.Engine.FixedImageSide() ?? storedSide;
        DataLoader Source(int batch) => UsageException.Wrap(() => DataPipelines.Eval(dataset, data, config, recipe.Augmentation(),
            new LoaderOptions { BatchSize = batch, Workers = LoaderOptions.DefaultWorkers, Classes = classes, Subset = EvaluationDefaults.PerClassSubset(subset) }, split, side, tenCrop));
        var source = Source(batchSize);
        if (saved?.ClassNames is { } trainedOn)
            DataPipelines.RequireSameClasses(trainedOn, "the run's training data", source.ClassNames, $"the {split} data");
        else if (source.ClassNames.Count != config.NumClasses)
            throw new UsageException($"the {split} data has {source.ClassNames.Count} classes, the model {config.NumClasses}" +
                                     // --classes only takes classes away from the data: no help for a model of more classes
                                     (classes is null && source.ClassNames.Count > config.NumClasses ? " (trained on some classes? give --classes as in training, or evaluate with --run)" : ""));
        else
            DataPipelines.RequireStoredClasses(storedClassNames, dataset, source.ClassNames, $"the {split} data");
        // --run: the checkpoint's EMA file was chosen above; --weights: --ema picks a training checkpoint's state_dict_ema
        var loadedWeights = onnx is null ? LoadWeights(weightsPath!, config, fused, run is null && emaFlag == true, assumedRecipeModel, recipe.Name) : null;
        using var loaded = loadedWeights?.Model;
        // the form scored, not the --fused switch: fused weights were recorded as unfused (an audit of fine-tuning and eval, session 45)
        bool scoredFused = (loadedWeights?.Info ?? onnx?.Engine.Info)?.Fused ?? fused;
        nn.Module<Tensor, Tensor> model = (nn.Module<Tensor, Tensor>?)onnx ?? loaded!;
        // the file just read, hashed now: a run's checkpoints/last may be replaced by a training run while this one scores it
        // --weights W --ema scores the EMA weights: for a run checkpoint's model.safetensors the ema.safetensors beside it
        var (scoredPath, scoredPick) = run is null && emaFlag == true && onnx is null
            ? Checkpoint.WeightsFileFor(weightsPath!, CheckpointWeights.Ema) : (weightsPath!, CheckpointWeights.Model);
        string scoredFile = Checkpoint.PathToRead(scoredPath), scoredSha256 = EvalSubject.Sha256Of(scoredFile);
        if (loaded is not null)   // TorchSharp holds what each block hands on and one block's maps at a time; ONNX Runtime reuses its buffers
        {
            var (_, height, width) = source.ImageShape;
            var graph = loaded.Trace(height, width);
            int views = (tenCrop ? 10 : 1) * (flip ? 2 : 1), largest = Math.Min(batchSize, source.Count);   // a batch larger than the data never fills
            if (parse.Given(_batchSize)) UsageException.Wrap(() => ForwardMemory.LayerOutputsAliveAtOnce(graph).RequireBatchFits(largest, views, model: modelName), "--batch-size");
            else if (UsageException.Wrap(() => ForwardMemory.TensorsAliveAtOnce(graph).BatchThatFits(batchSize, views)) is var fitting && fitting < largest)
            {
                stderr.WriteLine($"parnet eval: batches of {fitting} images, not the default {batchSize}: more would not fit in this machine's memory at {height}x{width} (--batch-size N sets it)");
                (batchSize, source) = (fitting, Source(fitting));
            }
        }
        using var plan = winograd ? WinogradPlanFor(loaded!, stderr) : null;
        var folder = new EvalReportFolder
        {
            ImageSize = size, TenCrop = tenCrop, Flip = flip, Fused = scoredFused, Winograd = winograd, Split = split, SubsetPerClass = subset,
            Classes = givenClasses is not null ? (parse.GetValue(_classes)!, givenClasses) : null, NotTheRunsDefaultWeights = notRunDefaultWeights,
            Ema = run is null && scoredEma,   // a run's EMA weights are its default report's
            Int8 = onnx?.Engine.Quantization is not null,
            OtherData = run is null ? null : OtherData(saved, recipe, parse.GetValue(_dataset), parse.GetValue(_data)),   // a weights file's folders are new each time
        };
        // a weights file's report folder is new each time, its name stamped to the second: two evaluations started in one
        // second wrote one folder, the second's report replacing the first's (cross-command audit, session 43): -2, -3, ...
        bool stamped = outDir is null && run is null;
        outDir ??= run is not null ? folder.InRun(run, checkpointName) : folder.ForWeights(DateTime.Now);
        // the report folder is made before the evaluation (minutes on a large data set), not found unwritable after it
        bool created;
        try
        {
            if (stamped) outDir = NewFolder.Make(outDir);
            created = OutputFolder.Prepare(outDir) || stamped;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException(parse.Given(_out) ? $"--out {outDir}: cannot write the report there ({e.Message})"
                                                       : $"the report folder {outDir} cannot be made ({e.Message}); give --out DIR");
        }
        EvalResult r;
        try { r = Evaluator.Evaluate(model, source, config.NumClasses, mirror: flip, channelsLast: winograd); }
        catch when (created)
        {
            OutputFolder.RemoveIfEmpty(outDir);
            throw;
        }
        var (c, h, w) = source.ImageShape;
        Evaluator.WriteReport(r, outDir, new EvalSubject
        {
            Model = modelName, Weights = Path.GetFullPath(scoredFile), WeightsSha256 = scoredSha256, Ema = scoredEma, Engine = onnx is null ? "TorchSharp" : "ONNX Runtime",
            Dataset = dataset, DataFolder = DataLocations.FolderRead(dataset, data), Split = split, ImageShape = [c, h, w],
            TenCrop = tenCrop, Flip = flip, Fused = scoredFused, Winograd = winograd, Quantization = onnx?.Engine.Quantization,
        });
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{modelName} on {DataDescription.Of(dataset, data, source.ClassNames.Count)} {split} ({r.Count} images, {c}x{h}x{w}{(tenCrop ? ", ten-crop" : "")}{(flip ? ", and mirrored" : "")}{(scoredFused ? ", fused" : "")}{(winograd ? $", Winograd convs: {plan!.Calls} calls" : "")}; weights {scoredPath}{(scoredPick == CheckpointWeights.Ema ? ", its EMA weights" : "")})"));
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"top-1 {r.Top1 * 100:F2}%  {(double.IsFinite(r.Top5) ? $"top-5 {(r.Top5 * 100).ToString("F2", CultureInfo.InvariantCulture)}%  " : "")}loss {r.Loss:F4}  ({r.Seconds:F1} s, {r.Count / Math.Max(1e-9, r.Seconds):F0} img/s)"));
        var acc = r.PerClassAccuracy;
        for (int k = 0; k < acc.Length && k < 100; k++)
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {k,3} {(k < r.ClassNames.Count ? r.ClassNames[k] : ""),-16} {acc[k] * 100,6:F2}%"));
        stdout.WriteLine($"report: {Path.GetFullPath(outDir)} (confusion.csv, confusion.png, per_class.csv, summary.json)");
        return 0;
    }

    /// <summary>The weights in <paramref name="config"/>'s model; when that model was only the recipe's default (nothing stored
    /// with the weights, no --model/--config) and they do not fit it, says so instead of listing every key of the mismatch.</summary>
    static ClassifierLoader.Loaded LoadWeights(string path, ModelConfig config, bool fused, bool ema, bool assumedRecipeModel, string recipeName)
    {
        try { return WeightsLoading.Load(path, config, fused, ema); }
        catch (InvalidDataException e) when (assumedRecipeModel && StateDict.IsMismatch(e))
        {
            throw new UsageException($"{path}: no model configuration stored with these weights, and they do not fit recipe {recipeName}'s " +
                                     $"model {config.Name}; give the network they were trained as with --model NAME or --config FILE");
        }
    }

    /// <summary>The model laid out channels_last with its eligible convs planned as Winograd; a warning when none is.</summary>
    WinogradPlan WinogradPlanFor(ImageClassifier model, TextWriter stderr)
    {
        MemoryFormat.ToChannelsLast(model);
        var plan = WinogradPlan.For(model);
        PredictorLoading.WarnIfNothingPlanned(plan.Convolutions, model.Config.Name, stderr, Name, "--winograd", "it runs the direct convs");
        return plan;
    }

    /// <summary>
    /// The configuration an .onnx file without ParNet's metadata (exported by another tool) is evaluated as: the channels of
    /// its input and the classes of its logits; the recipe's network lends only its layout to the preprocessing. It was
    /// evaluated as the recipe's network: a 3-channel model met grey images and stopped with ONNX Runtime's stack trace.
    /// </summary>
    static ModelConfig ForeignOnnx(OnnxRuntimeEngine engine, ModelConfig recipeNetwork) => recipeNetwork with
    {
        InChannels = engine.InputShape is [_, > 0 and var channels, _, _] ? (int)channels : recipeNetwork.InChannels,
        NumClasses = engine.OutputShape is [_, > 0 and var classes] ? (int)classes : recipeNetwork.NumClasses,
    };

    OnnxRuntimeModule OnnxEvaluation(string path, ParseResult parse)
    {
        if (parse.GetValue(_fused) || _model.Given(parse))
            throw new UsageException("an .onnx file is evaluated as exported; do not pass --fused/--model/--config/--width");
        var module = new OnnxRuntimeModule(new OnnxRuntimeEngine(path, new OnnxRuntimeOptions { IntraOpThreads = parse.GetValue(_threads) ?? Environment.ProcessorCount }));
        try
        {
            var side = UsageException.Wrap(module.Engine.FixedImageSide, path);
            if (parse.GetValue(_size) is not null && side is not null)   // a graph exported with a dynamic side takes one
                throw new UsageException("an .onnx file is fixed to its exported input size: no --image-size (ten-crop views keep that size)");
            return module;
        }
        catch
        {
            module.Dispose();
            throw;
        }
    }

    /// <summary>What a run's report folder says of data other than the run's own: another data set's name, another data
    /// folder's <see cref="EvalReportFolder.DataFolderPart"/>; null for the run's own.</summary>
    static string? OtherData(RunSettings? saved, Recipe recipe, string? givenSet, string? givenData)
    {
        if (givenSet is not null && givenSet != (saved?.Dataset ?? recipe.Dataset)) return givenSet;
        if (givenData is null) return null;
        return saved?.DataDirectory is string own && EvalReportFolder.FullFolder(own) == EvalReportFolder.FullFolder(givenData)
            ? null : EvalReportFolder.DataFolderPart(givenData);
    }
}
