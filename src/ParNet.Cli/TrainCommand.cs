using System.Diagnostics;
using System.Globalization;
using ParNet.Data;
using ParNet.Models;
using ParNet.Training;
using static TorchSharp.torch;

namespace ParNet.Cli;

/// <summary>`parnet train`: a recipe preset, every value overridable; checkpoints, logs and plots in a run folder.</summary>
public sealed class TrainCommand : ICommand
{
    public string Name => "train";
    public string Summary => "train a model (recipes: " + string.Join(", ", Recipes.Names) + ")";
    public string Usage => """
        usage: parnet train [--recipe NAME] [--model NAME | --config FILE.json] [--width W] [options]
          --recipe NAME          fashion-mnist (default), cifar, imagenet, imagenet-long
          --model/--config       model (default: the recipe's); --width W: CIFAR-layout planes [W,2W,4W]
          --dataset NAME         fashion-mnist | cifar10 | cifar100 | folder (DIR/train, DIR/val)  (default: the recipe's)
          --data DIR             where the data set is (fashion-mnist: data/fashion-mnist or /usr/share/datasets/fashion-mnist)
          --out DIR              run folder (default runs/RECIPE-yyyyMMdd-HHmmss)
          --resume DIR           continue the run in DIR from checkpoints/last (options given here override its recipe)
          --epochs N --batch-size N --lr X (at the recipe's reference batch, scaled linearly if it has one)
          --momentum X --nesterov [false] --weight-decay X --no-decay-bn-bias [false]
          --schedule step|multistep|cosine|linear|constant --warmup EPOCHS --min-lr X --step-epochs N --gamma X
          --label-smoothing X --ema DECAY (0: off) --head-dropout X --block-dropout X
          --padding PX (random shift) --no-flip --erasing P
          --seed N --threads N (torch threads, default all cores) --workers N (data threads, default 1)
          --time-budget MINUTES  stop (resumably) after this much time in this process
          --schedule-budget MINUTES  fit the LR schedule into this much wall time of the run: a machine too slow for
                                 the epochs anneals the LR anyway and ends early, complete (default: none)
          --bf16                 bfloat16 weights/activations, float32 master weights in the optimizer
          --channels-last false  keep NCHW tensors (default: channels_last, faster oneDNN convolutions)
          --subset N             N training images per class; --test-subset N: likewise for the test set
          --eval-every N         evaluate every N epochs (default 1; always after the last)
        Ctrl-C saves a resumable checkpoint and exits (code 130). A NaN/infinite loss stops the run (code 3).
        """;

    public int Run(CliArgs args, TextWriter stdout)
    {
        string? resumeDir = args.String("resume");
        LoadedCheckpoint? resume = null;
        Recipe recipe;
        ModelConfig model;
        string dataset;
        if (resumeDir is not null)
        {
            if (Checkpoint.Locate(Path.Combine(resumeDir, "checkpoints", "last")) is null)
                throw new UsageException($"--resume {resumeDir}: no checkpoints/last there");
            var state = Checkpoint.ReadState(Path.Combine(resumeDir, "checkpoints", "last"));
            if (args.Has("recipe") || args.Has("model") || args.Has("config") || args.Has("width"))
                throw new UsageException("--resume continues the run's own recipe and model; do not pass --recipe/--model/--config/--width");
            recipe = Overrides(args, state.Recipe);
            model = state.Model;
            dataset = args.String("dataset") ?? recipe.Dataset;
        }
        else
        {
            recipe = Recipes.Get(args.String("recipe") ?? "fashion-mnist");
            recipe = Overrides(args, recipe);
            dataset = args.String("dataset") ?? recipe.Dataset;
            model = BuildModelConfig(args, recipe, dataset, args.String("data"));
        }
        string? data = args.String("data");
        string runDir = resumeDir ?? args.String("out") ?? Path.Combine("runs", $"{recipe.Name}-{DateTime.Now:yyyyMMdd-HHmmss}");
        int threads = args.Int("threads") ?? Environment.ProcessorCount;
        int workers = args.Int("workers") ?? 1;
        double? budgetMinutes = args.Double("time-budget");
        double? scheduleMinutes = args.Double("schedule-budget");
        bool bf16 = args.Flag("bf16");
        bool channelsLast = !args.Has("channels-last") || args.Flag("channels-last");
        int? subset = args.Int("subset"), testSubset = args.Int("test-subset");
        int evalEvery = args.Int("eval-every") ?? 1;
        args.ThrowIfUnused();
        try { recipe.Validate(); } catch (ArgumentException e) { throw new UsageException(e.Message); }
        if (threads < 1) throw new UsageException("--threads must be >= 1");
        if (budgetMinutes is <= 0) throw new UsageException("--time-budget must be positive (minutes)");
        if (scheduleMinutes is <= 0) throw new UsageException("--schedule-budget must be positive (minutes)");

        set_num_threads(threads);
        var loaderOptions = new LoaderOptions
        {
            BatchSize = recipe.BatchSize, Seed = recipe.Seed, Workers = workers,
            Subset = subset is int s ? Subset.PerClass(s, recipe.Seed) : null,
        };
        var train = DataPipelines.Train(dataset, data, model, recipe.Augmentation(), loaderOptions);
        var test = DataPipelines.Eval(dataset, data, model, recipe.Augmentation(),
            loaderOptions with { BatchSize = Math.Max(256, recipe.BatchSize), Subset = testSubset is int t ? Subset.PerClass(t, 1) : null });
        if (train.ClassNames.Count != model.NumClasses)
            throw new UsageException($"the data has {train.ClassNames.Count} classes, the model {model.NumClasses}");

        Trainer.Seed(recipe.Seed);
        using var net = ModelFactory.Create(model);
        if (resumeDir is not null) resume = Checkpoint.Load(Path.Combine(resumeDir, "checkpoints", "last"));
        Directory.CreateDirectory(runDir);
        File.WriteAllText(Path.Combine(runDir, "recipe.json"), recipe.ToJson());
        File.WriteAllText(Path.Combine(runDir, "model.json"), model.ToJson());

        var renderer = ProgressRenderer.ForConsole(stdout);
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (cts.IsCancellationRequested) return;   // a second Ctrl-C kills the process
            e.Cancel = true;
            cts.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        var clock = Stopwatch.StartNew();
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"train: {model.Name} (planes {string.Join("/", model.Planes)}, {Analysis(net)} parameters) on {dataset} {train.ImageShape.Channels}x{train.ImageShape.Height}x{train.ImageShape.Width}, " +
            $"{train.Count} train / {test.Count} test images; recipe {recipe.Name}: {recipe.Epochs} epochs, batch {recipe.BatchSize}, LR {recipe.ScaledLr(recipe.BatchSize):G4} {recipe.Schedule}" +
            $"{(recipe.WarmupEpochs > 0 ? $" (warm-up {recipe.WarmupEpochs})" : "")}, wd {recipe.WeightDecay:G3}, LS {recipe.LabelSmoothing}, " +
            $"{(bf16 ? "bfloat16" : "float32")}, {threads} threads; run folder {Path.GetFullPath(runDir)}"));
        try
        {
            using var trainer = new Trainer(net, train, test, new TrainOptions
            {
                Recipe = recipe, RunDirectory = runDir, BFloat16 = bf16, ChannelsLast = channelsLast, ResumeFrom = resume, EvalEvery = evalEvery,
                TimeBudget = budgetMinutes is double m ? TimeSpan.FromMinutes(m) : null, Progress = renderer,
                ScheduleBudget = scheduleMinutes is double sm ? TimeSpan.FromMinutes(sm) : null,
            });
            resume?.Dispose();
            resume = null;
            var result = trainer.Run(cts.Token);
            renderer.EndLine();
            var last = result.State.History.LastOrDefault();
            switch (result.Reason)
            {
                case StopReason.Interrupted:
                    stdout.WriteLine($"interrupted: checkpoint saved in {Path.GetFullPath(result.LastCheckpoint)}; continue with: parnet train --resume {runDir}");
                    return 130;
                case StopReason.TimeBudget:
                    stdout.WriteLine($"time budget reached after {ProgressRenderer.Eta(clock.Elapsed)}: checkpoint saved; continue with: parnet train --resume {runDir} --time-budget MINUTES");
                    break;
                case StopReason.Completed when result.State.Epoch < recipe.Epochs:
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"the schedule budget ({result.State.ScheduleBudgetSeconds / 60:0.#} min) ended the LR schedule, annealed, in epoch {result.State.Epoch} of {recipe.Epochs}"));
                    break;
            }
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"done in {ProgressRenderer.Eta(clock.Elapsed)}: {result.State.Epoch} epochs; last test top-1 {(last?.TestAccuracy is double a ? $"{a * 100:F2}% (epoch {last.Epoch})" : "n/a")}, " +
                $"best {result.State.BestAccuracy * 100:F2}% (epoch {result.State.BestEpoch}); run folder {Path.GetFullPath(runDir)}"));
            return 0;
        }
        catch (TrainingDivergedException e)
        {
            renderer.EndLine();
            Console.Error.WriteLine($"parnet train: {e.Message}");
            return 3;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            resume?.Dispose();
        }
    }

    static string Analysis(nn.Module module) => module.parameters().Sum(p => p.numel()).ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>The model: --model/--config (default the recipe's), --width, classes/channels of the data set, the recipe's dropout.</summary>
    public static ModelConfig BuildModelConfig(CliArgs args, Recipe recipe, string dataset, string? data)
    {
        bool fromFile = args.Has("config") && args.String("config") is not null;
        var model = ModelOptions.Read(args, recipe.Model);
        int? width = args.Int("width") ?? (args.Has("model") || fromFile ? null : recipe.Width);
        if (width is int w)
        {
            if (model.Layout != Layout.Cifar) throw new UsageException("--width applies to CIFAR-layout models (planes [W, 2W, 4W])");
            if (w < 1) throw new UsageException("--width must be positive");
            model = model with { Name = $"{model.Name}_w{w}", Planes = [w, 2 * w, 4 * w], FinalWidth = 4 * w };
        }
        if (!fromFile)
        {
            model = model with { NumClasses = DataPipelines.NumClasses(dataset, data) };
            if (dataset == "fashion-mnist") model = model with { InChannels = 1 };
        }
        if (recipe.HeadDropout is double hd) model = model with { HeadDropout = hd };
        if (recipe.BlockDropout is double bd) model = model with { BlockDropout = bd };
        try { return model.Validate(); } catch (ArgumentException e) { throw new UsageException(e.Message); }
    }

    /// <summary>Applies the command-line overrides to a recipe.</summary>
    public static Recipe Overrides(CliArgs a, Recipe r)
    {
        r = r with
        {
            Epochs = a.Int("epochs") ?? r.Epochs,
            BatchSize = a.Int("batch-size") ?? r.BatchSize,
            Lr = a.Double("lr") ?? r.Lr,
            Momentum = a.Double("momentum") ?? r.Momentum,
            WeightDecay = a.Double("weight-decay") ?? r.WeightDecay,
            LabelSmoothing = a.Double("label-smoothing") ?? r.LabelSmoothing,
            EmaDecay = a.Double("ema") ?? r.EmaDecay,
            WarmupEpochs = a.Double("warmup") ?? r.WarmupEpochs,
            MinLr = a.Double("min-lr") ?? r.MinLr,
            StepEpochs = a.Int("step-epochs") ?? r.StepEpochs,
            StepGamma = a.Double("gamma") ?? r.StepGamma,
            HeadDropout = a.Double("head-dropout") ?? r.HeadDropout,
            BlockDropout = a.Double("block-dropout") ?? r.BlockDropout,
            CropPadding = a.Int("padding") ?? r.CropPadding,
            RandomErasing = a.Double("erasing") ?? r.RandomErasing,
            Seed = a.Int("seed") ?? r.Seed,
        };
        if (a.Has("nesterov")) r = r with { Nesterov = a.Flag("nesterov") };
        if (a.Has("no-decay-bn-bias")) r = r with { NoDecayBnBias = a.Flag("no-decay-bn-bias") };
        if (a.Has("no-flip")) r = r with { Flip = !a.Flag("no-flip") };
        if (a.String("schedule") is string s)
            r = r with
            {
                Schedule = s.ToLowerInvariant() switch
                {
                    "step" => ScheduleKind.Step, "multistep" => ScheduleKind.MultiStep, "cosine" => ScheduleKind.Cosine,
                    "linear" => ScheduleKind.Linear, "constant" => ScheduleKind.Constant,
                    _ => throw new UsageException($"--schedule must be step, multistep, cosine, linear or constant; got '{s}'"),
                },
            };
        return r;
    }
}
