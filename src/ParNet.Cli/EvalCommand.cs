using System.Globalization;
using ParNet.Data;
using ParNet.Fusion;
using ParNet.Models;
using ParNet.Training;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Cli;

/// <summary>`parnet eval`: top-1/top-5, per-class accuracy, confusion matrix (CSV + PNG); ten-crop, other resolutions, fused weights.</summary>
public sealed class EvalCommand : ICommand
{
    /// <summary>The fusion hook: unfused trained model in, re-parameterized (fused) model out.</summary>
    public static Func<ImageClassifier, ImageClassifier> Fuse { get; set; } = ParNetFuser.Fuse;

    public string Name => "eval";
    public string Summary => "evaluate a run or weights: top-1/5, per-class accuracy, confusion matrix";
    public string Usage => """
        usage: parnet eval --run DIR [--checkpoint last|best] [--ema] | --weights FILE (--model NAME | --config FILE.json) [--width W]
                           [--dataset NAME] [--data DIR] [--split test|train] [--ten-crop] [--size N] [--fused]
                           [--batch-size 256] [--threads N] [--subset N] [--out DIR]
          --run DIR        a training run folder (model, data set and recipe come from it)
          --ema            use the EMA weights of the checkpoint (default when the run trained with EMA)
          --size N         evaluate at another input side (Fashion-MNIST content is scaled by N/32)
          --ten-crop       average the 10 crops (corners, centre, mirrored) of the image padded by the crop padding
          --fused          re-parameterize the trained model first (ParNet fusion) and evaluate that
        Writes confusion.csv, confusion.png, per_class.csv, summary.json into --out (default RUN/eval-CHECKPOINT[...]).
        """;

    public int Run(CliArgs args, TextWriter stdout)
    {
        string? run = args.String("run");
        string? weights = args.String("weights");
        if ((run is null) == (weights is null)) throw new UsageException("give --run DIR or --weights FILE");
        string checkpointName = args.String("checkpoint") ?? "last";
        bool? emaFlag = args.Has("ema") ? args.Flag("ema") : null;
        Recipe recipe;
        ModelConfig config;
        string? weightsPath = weights;
        if (run is not null)
        {
            string ckpt = Path.Combine(run, "checkpoints", checkpointName);
            string dir = Checkpoint.Locate(ckpt) ?? throw new UsageException($"--run {run}: no checkpoint '{checkpointName}' there");
            var state = Checkpoint.ReadState(ckpt);
            recipe = state.Recipe;
            config = state.Model;
            bool useEma = emaFlag ?? File.Exists(Path.Combine(dir, Checkpoint.EmaFile));
            weightsPath = Path.Combine(dir, useEma ? Checkpoint.EmaFile : Checkpoint.WeightsFile);
            if (!File.Exists(weightsPath)) throw new UsageException($"{weightsPath} not found (the run has no EMA weights?)");
        }
        else
        {
            recipe = Recipes.Get(args.String("recipe") ?? "fashion-mnist");
            config = TrainCommand.BuildModelConfig(args, recipe, args.String("dataset") ?? recipe.Dataset, args.String("data"));
        }
        string dataset = args.String("dataset") ?? recipe.Dataset;
        string? data = args.String("data");
        string split = args.String("split") ?? "test";
        bool tenCrop = args.Flag("ten-crop");
        int? size = args.Int("size");
        bool fused = args.Flag("fused");
        int batchSize = args.Int("batch-size") ?? 256;
        int threads = args.Int("threads") ?? Environment.ProcessorCount;
        int? subset = args.Int("subset");
        string? outDir = args.String("out");
        args.ThrowIfUnused();

        set_num_threads(threads);
        var source = DataPipelines.Eval(dataset, data, config, recipe.Augmentation(),
            new LoaderOptions { BatchSize = batchSize, Workers = 1, Subset = subset is int s ? Subset.PerClass(s, 1) : null }, split, size, tenCrop);
        using var model = ModelFactory.Create(config);
        StateDict.Load(model, weightsPath!);
        model.eval();
        ImageClassifier evaluated = model;
        if (fused)
        {
            try { evaluated = Fuse(model); }
            catch (Exception e) when (e is NotSupportedException or ArgumentException) { throw new UsageException($"--fused: {e.Message}"); }
        }
        var r = Evaluator.Evaluate(evaluated, source, config.NumClasses);
        if (!ReferenceEquals(evaluated, model)) evaluated.Dispose();

        string suffix = (size is int n ? $"-{n}px" : "") + (tenCrop ? "-tencrop" : "") + (fused ? "-fused" : "") + (split != "test" ? "-" + split : "");
        outDir ??= run is not null ? Path.Combine(run, $"eval-{checkpointName}{suffix}") : Path.Combine("runs", $"eval{suffix}-{DateTime.Now:yyyyMMdd-HHmmss}");
        Evaluator.WriteReport(r, outDir);
        var (c, h, w) = source.ImageShape;
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{config.Name} on {dataset} {split} ({r.Count} images, {c}x{h}x{w}{(tenCrop ? ", ten-crop" : "")}{(fused ? ", fused" : "")}; weights {weightsPath})"));
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"top-1 {r.Top1 * 100:F2}%  top-5 {r.Top5 * 100:F2}%  loss {r.Loss:F4}  ({r.Seconds:F1} s, {r.Count / Math.Max(1e-9, r.Seconds):F0} img/s)"));
        var acc = r.PerClassAccuracy;
        for (int k = 0; k < acc.Length && k < 100; k++)
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {k,3} {(k < r.ClassNames.Count ? r.ClassNames[k] : ""),-16} {acc[k] * 100,6:F2}%"));
        stdout.WriteLine($"report: {Path.GetFullPath(outDir)} (confusion.csv, confusion.png, per_class.csv, summary.json)");
        return 0;
    }
}
