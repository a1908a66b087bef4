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
    readonly Option<int> _seed = SuiteOption.NonNegativeInt("--seed", 0, "the initial weights' seed (0: `parnet train`'s default)");
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
        string script = Path.Combine(AppContext.BaseDirectory, "pytorch", "pytorch_step_reference.py");
        string python = ParNet.Benchmarking.PyTorchReferenceOptions.DebianPython;
        // what the PyTorch side needs, checked before our side trains for a minute
        if (!File.Exists(python)) throw new ArgumentException($"{python} not found (Debian: apt-get install python3-torch)");
        if (!File.Exists(script)) throw new FileNotFoundException($"{script} is not beside the suite (build bench/ParNet.Bench again)");
        if (!Directory.Exists(code)) throw new ArgumentException($"--pytorch-code {code}: no such folder (a checkout of github.com/imankgoyal/NonDeepNetworks)");
        if (outDir is not null && Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new ArgumentException($"--out {outDir}: not empty (a run folder of its own is written there)");
        string data;
        try { data = DataLocations.ResolveFashionMnist(dataDir); }
        catch (DataNotFoundException e) { throw new ArgumentException(e.WordedWith(new DataOption()), e); }
        int threads = Environment.ProcessorCount;
        set_num_threads(threads);
        var recipe = Recipes.FashionMnist with { Seed = seed };
        Console.WriteLine($"train-steps check: recipe {recipe.Name}, {steps} steps, seed {seed}, {SuiteOption.Machine()}, .NET {Environment.Version}, " +
                          $"intra-op threads {threads} (both sides)");
        string folder = outDir is null ? Directory.CreateTempSubdirectory("parnet-train-steps-").FullName : Directory.CreateDirectory(outDir).FullName;
        try
        {
            string initial = Path.Combine(folder, "initial.safetensors"), run = Path.Combine(folder, "run");
            var clock = Stopwatch.StartNew();
            var ours = TrainOurs(recipe, data, steps, initial, run);
            double oursSeconds = clock.Elapsed.TotalSeconds;
            string ourWeights = Path.Combine(Checkpoint.Locate(Checkpoint.In(run)) ?? throw new InvalidDataException($"no checkpoint in {run}"),
                                             Checkpoint.WeightsFile);
            clock.Restart();
            var (theirs, distance) = TrainTheirs(python, script, code, data, steps, threads, initial, ourWeights);
            Console.WriteLine($"ours {oursSeconds:F0} s, theirs {clock.Elapsed.TotalSeconds:F0} s (PyTorch's start included)");
            Report(ours, theirs, distance);
            File.WriteAllLines(Path.Combine(folder, "steps.csv"),
                ["step,ours_loss,theirs_loss,ours_lr,theirs_lr", .. Enumerable.Range(0, steps).Select(i =>
                    FormattableString.Invariant($"{i + 1},{ours.Losses[i]:R},{theirs.Losses[i]:R},{ours.Lrs[i]:R},{theirs.Lrs[i]:R}"))]);
            if (outDir is not null) Console.WriteLine($"kept in {folder}: initial.safetensors, run/, steps.csv");
            return 0;
        }
        finally
        {
            if (outDir is null) Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Each step's loss and LR, on one side.</summary>
    public sealed record StepSeries(List<double> Losses, List<double> Lrs);

    /// <summary>The trainer's losses and LRs, step by step (from its progress events), and its weights after them in the run folder.</summary>
    static StepSeries TrainOurs(Recipe recipe, string data, int steps, string initial, string run)
    {
        manual_seed(recipe.Seed);
        using var model = ModelFactory.Create(recipe.Network(numClasses: 10, inChannels: 1));
        StateDict.Save(model, initial);
        var split = DataPipelines.Eval("fashion-mnist", data, model.Config, recipe.Augmentation(),
                                       new LoaderOptions { BatchSize = recipe.BatchSize, Workers = 0 }, split: "train");
        // the trainer ends with the recipe's last epoch; the PyTorch side would go on at LR 0
        if (steps > recipe.Epochs * split.BatchesPerEpoch)
            throw new ArgumentException($"--steps {steps}: the recipe has {recipe.Epochs} epochs of {split.BatchesPerEpoch} steps, {recipe.Epochs * split.BatchesPerEpoch} in all");
        var train = new OddImagesMirrored(split);
        var series = new StepLosses();
        var options = new TrainOptions { Recipe = recipe, RunDirectory = run, StopAfterSteps = steps, StepLogEvery = 0, Progress = series };
        using (var trainer = new Trainer(model, train, test: null, options)) trainer.Run();
        if (series.Losses.Count != steps) throw new InvalidDataException($"the trainer ran {series.Losses.Count} of {steps} steps");
        return new StepSeries(series.Losses, series.Lrs);
    }

    /// <summary>The authors' losses and LRs, step by step, and the distance of their weights after the last step from ours.</summary>
    static (StepSeries Steps, JsonElement Distance) TrainTheirs(string python, string script, string code, string data, int steps, int threads,
                                                              string initial, string ourWeights)
    {
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { script, "--code", code, "--weights", initial, "--steps", $"{steps}", "--compare", ourWeights, "--data", data, "--threads", $"{threads}" })
            start.ArgumentList.Add(a);
        using var child = Process.Start(start) ?? throw new InvalidDataException($"could not start {python}");
        var series = new StepSeries([], []);
        JsonElement? distance = null;
        try
        {
            while (child.StandardOutput.ReadLine() is { } line)
            {
                if (!line.StartsWith('{')) { Console.Error.WriteLine(line); continue; }   // a print of the authors' modules: not ours to read
                using var json = JsonDocument.Parse(line);
                if (json.RootElement.TryGetProperty("loss", out var loss))
                {
                    series.Losses.Add(loss.GetDouble());
                    series.Lrs.Add(json.RootElement.GetProperty("lr").GetDouble());
                }
                else distance = json.RootElement.Clone();
            }
            child.WaitForExit();
        }
        finally
        {
            if (!child.HasExited) child.Kill(entireProcessTree: true);   // an error here must not leave it training on both cores
        }
        if (child.ExitCode != 0 || distance is null || series.Losses.Count != steps)
            throw new InvalidDataException($"{Path.GetFileName(script)} exited with {child.ExitCode} after {series.Losses.Count} of {steps} steps (its error is above)");
        return (series, distance.Value);
    }

    static void Report(StepSeries ours, StepSeries theirs, JsonElement distance)
    {
        int steps = ours.Losses.Count;
        Console.WriteLine("| step | ours | authors' blocks, PyTorch | difference |");
        Console.WriteLine("|---:|---:|---:|---:|");
        for (int i = 0; i < steps; i++)
            if (i < 10 || (i + 1) % 50 == 0 || i == steps - 1)
                Console.WriteLine($"| {i + 1} | {ours.Losses[i]:F6} | {theirs.Losses[i]:F6} | {ours.Losses[i] - theirs.Losses[i]:+0.0e+0;-0.0e+0;0} |");
        double Largest(List<double> a, List<double> b, int n) => Enumerable.Range(0, n).Max(i => Math.Abs(a[i] - b[i]));
        int first = Math.Min(10, steps);
        Console.WriteLine($"largest loss difference: steps 1-{first} {Largest(ours.Losses, theirs.Losses, first):G2}, " +
                          $"all {steps} steps {Largest(ours.Losses, theirs.Losses, steps):G2}; largest LR difference {Largest(ours.Lrs, theirs.Lrs, steps):G2}");
        Console.WriteLine($"weights and running statistics after step {steps}: relative L2 distance {distance.GetProperty("relative_l2").GetDouble():G2} " +
                          $"over {distance.GetProperty("tensors").GetInt32()} tensors; largest {distance.GetProperty("worst_relative_l2").GetDouble():G2} " +
                          $"({distance.GetProperty("worst").GetString()})");
    }

    /// <summary>Each step's own loss and its LR, as the trainer reports them step by step.</summary>
    public sealed class StepLosses : IProgress<TrainEvent>
    {
        public List<double> Losses { get; } = [];
        public List<double> Lrs { get; } = [];

        public void Report(TrainEvent e)
        {
            if (e is not StepEvent s) return;
            Losses.Add(s.StepLoss);
            Lrs.Add(s.Lr);
        }
    }

    /// <summary>The data folder as this suite's option names it ("--data DIR").</summary>
    sealed class DataOption : ParNet.Runtime.SettingNames
    {
        public override string Given(string setting, object? value) =>
            setting == DataLocations.DataDirectorySetting ? $"--data {value}" : base.Given(setting, value);
    }

    /// <summary>A source's batches with every odd-numbered image mirrored left-right (batches of an even size, so the
    /// image's number in its batch has the parity of its number in the data set).</summary>
    public sealed class OddImagesMirrored(IBatchSource source) : IBatchSource
    {
        public int Count => source.Count;
        public int BatchSize { get; } = source.BatchSize % 2 == 0 ? source.BatchSize : throw new ArgumentException("batches of an even size");
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
