// Suite "train-steps": an outside check of `parnet train`'s step, not a timing. The Trainer, with the fashion-mnist
// recipe (its SGD, LR schedule, weight decay groups and label-smoothed loss, as `parnet train --recipe fashion-mnist`
// builds them), trains N steps from seeded weights on batches with no randomness in them: the training split in file
// order through the evaluation pipeline (padded to 32, normalized), image i mirrored when i is odd. The authors' blocks
// on PyTorch (bench/pytorch/pytorch_step_reference.py, /usr/bin/python3) train the same steps from the same weights on
// the same batches. Printed: both losses at steps 1-10 and every 50th, the largest difference over the first 10 and over
// all steps, and the relative L2 distance of the two sets of weights and running statistics after the last step.
// Random shuffles and flips are left out on purpose and the initial weights are shared: the accuracy check
// (pytorch_recipe_reference.py) compares whole trainings across seeds; this one shows that a step computes the same thing.
// Run: dotnet run -c Release --project bench/ParNet.Bench -- train-steps --pytorch-code DIR [--steps 100] [--seed 0] [--out DIR]
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using ParNet.Data;
using ParNet.Models;
using ParNet.Training;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Bench;

public sealed class TrainStepsCheck : IBenchmark
{
    readonly Option<string> _code = new("--pytorch-code") { Description = "a checkout of github.com/imankgoyal/NonDeepNetworks", HelpName = "DIR", Required = true };
    readonly Option<int> _steps = SuiteOption.PositiveInt("--steps", 100, "steps on each side (100: under a minute each on 2 quiet cores; an epoch is 469)");
    readonly Option<int> _seed = SuiteOption.CountOrNone("--seed", "the initial weights' seed (0, as `parnet train`'s default)");
    readonly Option<string?> _data = new("--data") { Description = "the Fashion-MNIST IDX files (default: where `parnet train` looks)", HelpName = "DIR" };
    readonly Option<string?> _out = new("--out")
    {
        Description = "keep the initial weights (initial.safetensors: the PyTorch script's --weights for a run of its own), our run " +
                      "folder and both losses per step (steps.csv) here (default: a temporary folder, deleted)", HelpName = "DIR",
    };

    public Command Build()
    {
        var command = new Command("train-steps", "the trainer's steps against the authors' blocks on PyTorch, from the same weights and batches")
            .WithOptions(_code, _steps, _seed, _data, _out);
        command.SetAction(parse => Run(parse.GetValue(_code)!, parse.GetValue(_steps), parse.GetValue(_seed), parse.GetValue(_data), parse.GetValue(_out)));
        return command;
    }

    static int Run(string code, int steps, int seed, string? dataDir, string? outDir)
    {
        int threads = Environment.ProcessorCount;
        set_num_threads(threads);
        string data = DataLocations.ResolveFashionMnist(dataDir);
        var recipe = Recipes.FashionMnist with { Seed = seed };
        Console.WriteLine($"train-steps check: recipe {recipe.Name}, {steps} steps, seed {seed}, {SuiteOption.Machine()}, .NET {Environment.Version}, " +
                          $"intra-op threads {threads} (both sides)");
        if (outDir is not null && Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new ArgumentException($"--out {outDir}: not empty (a run folder of its own is written there)");
        string folder = outDir is null ? Directory.CreateTempSubdirectory("parnet-train-steps-").FullName : Directory.CreateDirectory(outDir).FullName;
        try
        {
            string initial = Path.Combine(folder, "initial.safetensors"), run = Path.Combine(folder, "run");
            var clock = Stopwatch.StartNew();
            var ours = TrainOurs(recipe, data, steps, initial, run);
            double oursSeconds = clock.Elapsed.TotalSeconds;
            string trained = Path.Combine(Checkpoint.Locate(Checkpoint.In(run)) ?? throw new InvalidOperationException($"no checkpoint in {run}"),
                                          Checkpoint.WeightsFile);
            clock.Restart();
            var (theirs, distance) = TrainTheirs(code, data, steps, threads, initial, trained);
            Console.WriteLine($"ours {oursSeconds:F0} s, theirs {clock.Elapsed.TotalSeconds:F0} s (PyTorch's start included)");
            Report(ours, theirs, distance);
            File.WriteAllLines(Path.Combine(folder, "steps.csv"),
                ["step,ours,theirs", .. ours.Select((loss, i) => FormattableString.Invariant($"{i + 1},{loss:R},{theirs[i]:R}"))]);
            if (outDir is not null) Console.WriteLine($"kept in {folder}: initial.safetensors, run/, steps.csv");
            return 0;
        }
        finally
        {
            if (outDir is null) Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The trainer's losses, step by step (from its running mean), and its weights after them in the run folder.</summary>
    static List<double> TrainOurs(Recipe recipe, string data, int steps, string initial, string run)
    {
        manual_seed(recipe.Seed);
        using var model = ModelFactory.Create(recipe.Network(numClasses: 10, inChannels: 1));
        StateDict.Save(model, initial);
        var split = DataPipelines.Eval("fashion-mnist", data, model.Config, recipe.Augmentation(),
                                       new LoaderOptions { BatchSize = recipe.BatchSize, Workers = 0 }, split: "train");
        var train = new OddImagesMirrored(split);
        var losses = new StepLosses(train);
        var options = new TrainOptions { Recipe = recipe, RunDirectory = run, StopAfterSteps = steps, StepLogEvery = 0, Progress = losses };
        using (var trainer = new Trainer(model, train, test: null, options)) trainer.Run();
        return losses.Losses;
    }

    /// <summary>The authors' losses, step by step, and the distance of their weights after the last step from ours.</summary>
    static (List<double> Losses, JsonElement Distance) TrainTheirs(string code, string data, int steps, int threads, string initial, string ours)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "pytorch", "pytorch_step_reference.py");
        var start = new ProcessStartInfo(ParNet.Benchmarking.PyTorchReferenceOptions.DebianPython)
        {
            RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false,
        };
        foreach (var a in new[] { script, "--code", code, "--weights", initial, "--steps", $"{steps}", "--compare", ours, "--data", data, "--threads", $"{threads}" })
            start.ArgumentList.Add(a);
        using var child = Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}");
        var losses = new List<double>();
        JsonElement? distance = null;
        while (child.StandardOutput.ReadLine() is { } line)
        {
            using var json = JsonDocument.Parse(line);
            if (json.RootElement.TryGetProperty("loss", out var loss)) losses.Add(loss.GetDouble());
            else distance = json.RootElement.Clone();
        }
        child.WaitForExit();
        if (child.ExitCode != 0 || distance is null || losses.Count != steps)
            throw new InvalidOperationException($"{script} exited with {child.ExitCode} after {losses.Count} of {steps} steps (its error is above)");
        return (losses, distance.Value);
    }

    static void Report(List<double> ours, List<double> theirs, JsonElement distance)
    {
        Console.WriteLine("| step | ours | authors' blocks, PyTorch | difference |");
        Console.WriteLine("|---:|---:|---:|---:|");
        for (int i = 0; i < ours.Count; i++)
            if (i < 10 || (i + 1) % 50 == 0 || i == ours.Count - 1)
                Console.WriteLine($"| {i + 1} | {ours[i]:F6} | {theirs[i]:F6} | {ours[i] - theirs[i]:+0.0e+0;-0.0e+0;0} |");
        double MaxDifference(int n) => Enumerable.Range(0, n).Max(i => Math.Abs(ours[i] - theirs[i]));
        Console.WriteLine($"largest loss difference: steps 1-{Math.Min(10, ours.Count)} {MaxDifference(Math.Min(10, ours.Count)):G2}, " +
                          $"all {ours.Count} steps {MaxDifference(ours.Count):G2}");
        Console.WriteLine($"weights and running statistics after step {ours.Count}: relative L2 distance {distance.GetProperty("relative_l2").GetDouble():G2} " +
                          $"over {distance.GetProperty("tensors").GetInt32()} tensors; largest {distance.GetProperty("worst_relative_l2").GetDouble():G2} " +
                          $"({distance.GetProperty("worst").GetString()})");
    }

    /// <summary>Each step's loss, from the trainer's running mean over the epoch (reported synchronously, step by step).</summary>
    public sealed class StepLosses(IBatchSource data) : IProgress<TrainEvent>
    {
        double _sum;
        long _seen;
        int _epoch;
        public List<double> Losses { get; } = [];

        public void Report(TrainEvent e)
        {
            if (e is not StepEvent s) return;
            if (s.Epoch != _epoch) (_epoch, _sum, _seen) = (s.Epoch, 0, 0);
            int count = Math.Min(data.BatchSize, data.Count - (s.Batch - 1) * data.BatchSize);
            double sum = s.Loss * (_seen + count);
            Losses.Add((sum - _sum) / count);
            (_sum, _seen) = (sum, _seen + count);
        }
    }

    /// <summary>A source's batches with every odd-numbered image mirrored left-right (batches of an even size, so the
    /// image's number in its batch has the parity of its number in the data set).</summary>
    public sealed class OddImagesMirrored(IBatchSource source) : IBatchSource
    {
        public int Count => source.Count;
        public int BatchSize => source.BatchSize % 2 == 0 ? source.BatchSize : throw new ArgumentException("batches of an even size");
        public (int Channels, int Height, int Width) ImageShape => source.ImageShape;
        public IReadOnlyList<string> ClassNames => source.ClassNames;

        public IEnumerable<Batch> Epoch(int epoch, CancellationToken cancel = default)
        {
            foreach (var batch in source.Epoch(epoch, cancel))
            {
                Tensor images;
                using (var scope = NewDisposeScope())
                {
                    var odd = arange(batch.Count).remainder(2).eq(1).view(-1, 1, 1, 1);
                    images = where(odd, batch.Images.flip(3), batch.Images).MoveToOuterDisposeScope();
                }
                var labels = batch.Labels.clone();
                batch.Dispose();
                yield return new Batch(images, labels);
            }
        }
    }
}
