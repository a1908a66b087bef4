using System.CommandLine;
using ParNet.Training;

namespace ParNet.Cli;

/// <summary>The recipe overrides of `parnet train`: each absent option keeps the recipe's value (the paper's, per recipe).</summary>
public sealed class RecipeOptions
{
    readonly Option<int?> _epochs = CliOption.Int("--epochs", "training epochs");
    readonly Option<int?> _batchSize = CliOption.Int("--batch-size", "images per step in each process (under mpiexec the global batch is this x the processes)");
    readonly Option<double?> _lr = CliOption.Number("--lr", "peak learning rate: the imagenet recipes give it for a global batch of 2048 and scale it " +
                                                    "linearly to yours (--batch-size x processes); the other recipes take it as given");
    readonly Option<double?> _momentum = CliOption.Number("--momentum", "SGD momentum");
    readonly Option<bool> _nesterov = CliOption.Switch("--nesterov", "Nesterov momentum (--nesterov false turns it off)");
    readonly Option<double?> _weightDecay = CliOption.Number("--weight-decay", "L2 weight decay");
    readonly Option<bool> _noDecayBnBias = CliOption.Switch("--no-decay-bn-bias", "no weight decay on BN parameters and biases (--no-decay-bn-bias false: decay them)");
    readonly Option<string?> _schedule = CliOption.Text("--schedule", "LR schedule: step, multistep, cosine, linear or constant", "KIND");
    readonly Option<double?> _warmup = CliOption.Number("--warmup", "epochs of linear LR warm-up", "EPOCHS");
    readonly Option<double?> _minLr = CliOption.Number("--min-lr", "final LR of the cosine/linear schedules");
    readonly Option<int?> _stepEpochs = CliOption.Int("--step-epochs", "epochs between LR steps (step schedule)");
    readonly Option<double?> _gamma = CliOption.Number("--gamma", "LR factor at each step (step/multistep schedules)");
    readonly Option<string?> _milestones = CliOption.Text("--milestones", "fractions of training at which the multistep schedule multiplies the LR " +
                                                           "by --gamma (default: the recipe's; cifar 0.3,0.6,0.8, the paper's)", "F,F,...");
    readonly Option<double?> _labelSmoothing = CliOption.Number("--label-smoothing", "label smoothing of the cross-entropy");
    readonly Option<double?> _ema = CliOption.Number("--ema-decay", "EMA decay of the weights (0: off; --ema DECAY: its older name, in RESULTS.md's commands; " +
                                                     "train's --ema takes a value, unlike the other commands' --ema switch)", "DECAY",
                                                     aliases: "--ema");   // --ema elsewhere picks a checkpoint's EMA weights; --ema before
    readonly Option<double?> _backboneLrScale = CliOption.Number("--backbone-lr-scale",
        "factor on the LR of everything but the classifier (fine-tuning a pretrained backbone: e.g. 0.1)", "X");
    readonly Option<double?> _headDropout = CliOption.Number("--head-dropout", "dropout before the classifier");
    readonly Option<double?> _blockDropout = CliOption.Number("--block-dropout", "dropout inside the blocks");
    readonly Option<int?> _padding = CliOption.Int("--padding", "random-shift padding of the crop", "PX");
    readonly Option<bool> _noFlip = CliOption.Switch("--no-flip", "no random horizontal flip");
    readonly Option<double?> _erasing = CliOption.Number("--erasing", "random-erasing probability", "P");
    readonly Option<int?> _seed = CliOption.Int("--seed", "seed of initialization, shuffling, augmentation and the --subset images drawn (the test subset is the same for every seed); the same seed, " +
        "thread count and data give the same weights, bit for bit, on the same CPU kind and parnet version (default: the recipe's, 0 in every preset)");
    readonly Option<int?> _imageSize = CliOption.Int("--image-size",
        "training and test image side of an image-folder data set (default: the recipe's, imagenet 224; fine-tuning, --pretrained: " +
        "the side stored with the weights, else their network's, 224 px for the ImageNet layout)", "PX");

    public void AddTo(Command command) => command.Add(_epochs, _batchSize, _lr, _momentum, _nesterov, _weightDecay, _noDecayBnBias, _schedule,
        _warmup, _minLr, _stepEpochs, _gamma, _milestones, _labelSmoothing, _ema, _backboneLrScale, _headDropout, _blockDropout, _padding, _noFlip, _erasing, _seed, _imageSize);

    /// <summary>Whether --image-size was given: it sets an image folder's side, and the fixed-size data sets refuse it.</summary>
    public bool ImageSizeGiven(ParseResult p) => p.GetValue(_imageSize) is not null;

    /// <summary>"0.3,0.6,0.8" as numbers (their range is the recipe's to check).</summary>
    static double[] Milestones(string text) => text.Split(',', StringSplitOptions.TrimEntries).Select(f =>
        double.TryParse(f, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v)
            ? v : throw new UsageException($"--milestones {text}: '{f}' is not a number (fractions of training, e.g. 0.3,0.6,0.8)")).ToArray();

    /// <summary>The recipe with the given options applied.</summary>
    public Recipe Apply(ParseResult p, Recipe r)
    {
        r = r with
        {
            Epochs = p.GetValue(_epochs) ?? r.Epochs,
            BatchSize = p.GetValue(_batchSize) ?? r.BatchSize,
            Lr = p.GetValue(_lr) ?? r.Lr,
            Momentum = p.GetValue(_momentum) ?? r.Momentum,
            WeightDecay = p.GetValue(_weightDecay) ?? r.WeightDecay,
            LabelSmoothing = p.GetValue(_labelSmoothing) ?? r.LabelSmoothing,
            EmaDecay = p.GetValue(_ema) ?? r.EmaDecay,
            BackboneLrScale = p.GetValue(_backboneLrScale) ?? r.BackboneLrScale,
            WarmupEpochs = p.GetValue(_warmup) ?? r.WarmupEpochs,
            MinLr = p.GetValue(_minLr) ?? r.MinLr,
            StepEpochs = p.GetValue(_stepEpochs) ?? r.StepEpochs,
            StepGamma = p.GetValue(_gamma) ?? r.StepGamma,
            HeadDropout = p.GetValue(_headDropout) ?? r.HeadDropout,
            BlockDropout = p.GetValue(_blockDropout) ?? r.BlockDropout,
            CropPadding = p.GetValue(_padding) ?? r.CropPadding,
            RandomErasing = p.GetValue(_erasing) ?? r.RandomErasing,
            Seed = p.GetValue(_seed) ?? r.Seed,
            ImageSize = p.GetValue(_imageSize) ?? r.ImageSize,
        };
        CliOption.RequireAtLeastOne("--image-size", p.GetValue(_imageSize), "pixels");
        if (p.GetValue(_milestones) is string m) r = r with { Milestones = [.. Milestones(m)] };
        if (p.Given(_nesterov)) r = r with { Nesterov = p.GetValue(_nesterov) };
        if (p.Given(_noDecayBnBias)) r = r with { NoDecayBnBias = p.GetValue(_noDecayBnBias) };
        if (p.Given(_noFlip)) r = r with { Flip = !p.GetValue(_noFlip) };
        if (p.GetValue(_schedule) is string s)
            r = r with
            {
                Schedule = s.ToLowerInvariant() switch
                {
                    "step" => ScheduleKind.Step, "multistep" => ScheduleKind.MultiStep, "cosine" => ScheduleKind.Cosine,
                    "linear" => ScheduleKind.Linear, "constant" => ScheduleKind.Constant,
                    _ => throw new UsageException($"--schedule must be step, multistep, cosine, linear or constant; got '{s}'"),
                },
            };
        // a short trial run of a long recipe (--recipe imagenet --epochs 2) met "warm-up epochs must be in [0, 2]; got 5",
        // about an option the user never gave
        if (p.GetValue(_epochs) is int epochs and >= 1 && p.GetValue(_warmup) is null && r.WarmupEpochs > epochs)   // 0 or less: the recipe says epochs >= 1
            throw new UsageException($"--epochs {epochs} is shorter than the {r.WarmupEpochs.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture)} warm-up epochs of recipe {r.Name}: " +
                                     $"give --warmup N too (0 or more, below {epochs}: a run all warm-up never anneals)");
        return r;
    }

    /// <summary>Refuses a schedule option that <paramref name="r"/>'s schedule does not read (after the recipe's own checks:
    /// a value out of range is named as such first).</summary>
    public void RequireReadBySchedule(ParseResult p, Recipe r)
    {
        // a value the run's schedule never reads was taken without a word (--gamma 0.5 --milestones 0.5 on the default cosine
        // schedule trained exactly as without them: cross-command audit, session 43)
        var unread = new (Option Option, string Schedules, bool Read)[]
        {
            (_stepEpochs, "step", r.Schedule == ScheduleKind.Step),
            (_milestones, "multistep", r.Schedule == ScheduleKind.MultiStep),
            (_gamma, "step and multistep", r.Schedule is ScheduleKind.Step or ScheduleKind.MultiStep),
            (_minLr, "cosine and linear", r.Schedule is ScheduleKind.Cosine or ScheduleKind.Linear),
        }.Where(o => p.Given(o.Option) && !o.Read).ToList();
        if (unread.Count > 0)
            throw new UsageException($"{string.Join(", ", unread.Select(o => $"{o.Option.Name} (read by the {o.Schedules} schedule{(o.Schedules.Contains(" and ") ? "s" : "")})"))}: " +
                                     $"the run's LR schedule is {r.Schedule.ToString().ToLowerInvariant()}, which does not read {(unread.Count == 1 ? "it" : "them")}; " +
                                     $"give --schedule KIND to change it, or leave {(unread.Count == 1 ? "it" : "them")} out");
    }
}
