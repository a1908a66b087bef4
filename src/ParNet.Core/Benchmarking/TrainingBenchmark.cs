using System.Diagnostics;
using ParNet.Analysis;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace ParNet.Benchmarking;

/// <summary>What <see cref="TrainingBenchmark.Run"/> times: the trainer's step (forward, label-smoothed cross-entropy,
/// backward, SGD Nesterov with weight decay) on random data, in the trainer's layout unless told otherwise.</summary>
public sealed record TrainingBenchmarkOptions
{
    public required ModelConfig Model { get; init; }
    /// <summary>Input side; default the model's own (<see cref="ModelConfig.DefaultImageSize"/>: 224 for ImageNet layouts,
    /// 32 for CIFAR ones, as the fashion-mnist recipe's model).</summary>
    public int ImageSize { get => _imageSize ?? Model.DefaultImageSize; init => _imageSize = value; }
    readonly int? _imageSize;
    public int Batch { get; init; } = DefaultBatch;
    /// <summary>128: the fashion-mnist recipe's batch.</summary>
    public const int DefaultBatch = 128;
    /// <summary>Timed steps, after <see cref="Warmup"/> untimed ones (first steps allocate and pick kernels).</summary>
    public int Steps { get; init; } = DefaultSteps;
    /// <summary>10: a few seconds of the fashion-mnist model's steps on 2 cores (batch 128 at 300-800 images/s).</summary>
    public const int DefaultSteps = 10;
    public int Warmup { get; init; } = DefaultWarmup;
    /// <summary>2: the first steps allocate and pick kernels; their times would not be a step's.</summary>
    public const int DefaultWarmup = 2;
    public bool BFloat16 { get; init; }
    /// <summary>As the trainer (<see cref="TrainOptions.ChannelsLast"/>): weights and batches channels_last.</summary>
    public bool ChannelsLast { get; init; } = true;
    /// <summary>Time only the eval-mode forward pass under no_grad (the inference cost of the same model).</summary>
    public bool ForwardOnly { get; init; }
    /// <summary>Data-parallel processes (under mpiexec): each runs the batch, gradients are averaged every step.</summary>
    public ParNet.Distributed.IProcessGroup Processes { get; init; } = new ParNet.Distributed.SingleProcess();

    /// <summary>
    /// <see cref="InvalidSettingException"/> for counts no run can use, a side the model cannot take, and a batch that surely
    /// cannot fit in memory (<see cref="TrainingBenchmark.RequireFits"/>: the model is built to trace it), before anything
    /// is timed; as <see cref="InferenceBenchmarkOptions.Validate"/> (these checks sat in train-bench's front end: bench audit).
    /// </summary>
    public void Validate()
    {
        foreach (var (member, value, least) in new[] { (nameof(Steps), Steps, 1), (nameof(Batch), Batch, 1), (nameof(Warmup), Warmup, 0) })
            if (value < least)
            {
                string setting = Setting(member);
                throw InvalidSettingException.Given(setting, value, $"must be >= {least}");
            }
        string imageSize = Setting(nameof(ImageSize));
        try { Model.CheckImageSize(ImageSize, ImageSize); }
        catch (ArgumentException e) { throw new InvalidSettingException(imageSize, names => $"{names.Name(imageSize)}: {e.Message}", e); }
        TrainingBenchmark.RequireFits(this);
    }

    static string Setting(string member) => SettingNames.Of(nameof(TrainingBenchmarkOptions), member);
}

/// <summary>Images per second and the split of a step, per-step means over the timed steps: compute (forward, backward,
/// update) and communication (the gradient all-reduce, waiting for the slowest process included).</summary>
public sealed record TrainingBenchmarkResult(double ImagesPerSecond, double ForwardMs, double BackwardMs, double UpdateMs, double CommunicationMs = 0, long BytesPerStep = 0)
{
    /// <summary>Of the timed model: what the PyTorch reference's network must match.</summary>
    public long Parameters { get; init; }
}

/// <summary>Training throughput of a model on random data (`parnet train-bench`). Threads are the caller's
/// (torch.set_num_threads); the model is seeded, so two runs time the same computation.</summary>
public static class TrainingBenchmark
{
    /// <summary>Refuses (<see cref="InvalidSettingException"/> on <see cref="TrainingBenchmarkOptions.Batch"/>) a batch that
    /// surely cannot fit in this machine's memory, as <see cref="TrainingSteps"/> would on starting: a front end checks it
    /// while every process is still setting up (the model is built to trace it, and disposed).</summary>
    public static void RequireFits(TrainingBenchmarkOptions o)
    {
        using var model = RandomState.Kept(() => ModelFactory.Create(o.Model));
        TrainingSteps.RequireFits(model, o);
    }

    /// <summary><see cref="TrainingBenchmarkOptions.Warmup"/> untimed steps, then <see cref="TrainingBenchmarkOptions.Steps"/> timed.</summary>
    public static TrainingBenchmarkResult Run(TrainingBenchmarkOptions o)
    {
        using var steps = new TrainingSteps(o);
        return steps.Time(o.Steps);
    }
}

/// <summary>
/// A seeded model, its optimizer and a random batch, warmed up (<see cref="TrainingBenchmarkOptions.Warmup"/> steps) and
/// ready to time steps again and again: the trainer's step (forward, label-smoothed cross-entropy, backward, gradient
/// all-reduce under mpiexec, SGD Nesterov with weight decay), or with <see cref="TrainingBenchmarkOptions.ForwardOnly"/>
/// the eval-mode forward pass under no_grad. The rounds of <see cref="PyTorchTrainingReference.Compare"/> time one of these
/// against the authors' steps in turn.
/// </summary>
public sealed class TrainingSteps : IDisposable
{
    readonly TrainingBenchmarkOptions _o;
    readonly ImageClassifier _model;
    readonly Sgd _sgd;
    readonly ParNet.Distributed.GradientBuckets _buckets;
    readonly Tensor _x, _y;

    /// <summary>Of the timed model: what the PyTorch reference's network must match.</summary>
    public long Parameters { get; }

    public TrainingSteps(TrainingBenchmarkOptions o)
    {
        if (o.Steps < 1 || o.Batch < 1 || o.Warmup < 0) throw new ArgumentException("steps and batch must be >= 1, warm-up >= 0");
        o.Model.CheckImageSize(o.ImageSize, o.ImageSize);
        _o = o;
        manual_seed(0);
        _model = ModelFactory.Create(o.Model);
        try { RequireFits(_model, o); }
        catch { _model.Dispose(); throw; }
        TrainingPreparation.Model(_model, o.BFloat16, o.ChannelsLast);
        _model.train();
        _sgd = new Sgd(_model.named_parameters(), 0.9, nesterov: true, 5e-4, noDecayBnBias: true, masterWeights: o.BFloat16) { LearningRate = 0.01 };
        _buckets = new ParNet.Distributed.GradientBuckets(_model.parameters(), o.Processes);
        using (var scope = NewDisposeScope())
        {
            _x = TrainingPreparation.Input(randn(o.Batch, o.Model.InChannels, o.ImageSize, o.ImageSize), o.BFloat16, o.ChannelsLast).DetachFromDisposeScope();
            _y = randint(0, o.Model.NumClasses, [o.Batch], dtype: ScalarType.Int64).DetachFromDisposeScope();
        }
        Parameters = ModelSummary.CountParameters(_model);
        Time(o.Warmup);
    }

    /// <summary>ArgumentException where the batch surely cannot fit in memory, with every process on this machine running it:
    /// a training step as the trainer checks it, a forward-only pass by the conv outputs that exist at once.</summary>
    internal static void RequireFits(ImageClassifier model, TrainingBenchmarkOptions o)
    {
        int processesHere = o.Processes.ProcessesOnThisMachine;
        string setting = SettingNames.Of(nameof(TrainingBenchmarkOptions), nameof(TrainingBenchmarkOptions.Batch));
        try
        {
            if (!o.ForwardOnly) TrainingPreparation.RequireStepFits(model, o.ImageSize, o.ImageSize, o.Batch, o.BFloat16, processesHere);
            else
            {
                var outputs = Models.Tracing.ForwardMemory.LayerOutputsAliveAtOnce(model.Trace(o.ImageSize, o.ImageSize));
                if (o.BFloat16) outputs = outputs with { BytesPerImage = outputs.BytesPerImage / 2 };   // bfloat16 maps, as the step's
                outputs.RequireBatchFits(o.Batch, workers: processesHere, model: model.Config.Name, workersAre: "processes on this machine");
            }
        }
        catch (ArgumentException e) { throw new InvalidSettingException(setting, names => $"{names.Given(setting, o.Batch)}: {e.Message}", e); }
    }

    /// <summary>Images per second and per-step means over <paramref name="steps"/> steps (none: zeros).</summary>
    public TrainingBenchmarkResult Time(int steps)
    {
        double forward = 0, backward = 0, update = 0, communication = 0;
        for (int i = 0; i < steps; i++)
        {
            using var step = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            if (_o.ForwardOnly)
            {
                using (no_grad()) { _model.eval(); _model.call(_x); }
                forward += clock.Elapsed.TotalSeconds;
                continue;
            }
            var loss = Losses.CrossEntropy(_model.call(_x), _y, 0.1);
            double f = clock.Elapsed.TotalSeconds;
            _sgd.ZeroGrad();
            loss.backward();
            double b = clock.Elapsed.TotalSeconds;
            _buckets.Average();
            double c = clock.Elapsed.TotalSeconds;
            _sgd.Step();
            double u = clock.Elapsed.TotalSeconds;
            forward += f; backward += b - f; communication += c - b; update += u - c;
        }
        if (steps == 0) return new TrainingBenchmarkResult(0, 0, 0, 0) { Parameters = Parameters };
        double total = forward + backward + communication + update;
        return new TrainingBenchmarkResult((double)steps * _o.Batch * _o.Processes.Size / total, forward / steps * 1000, backward / steps * 1000,
                                           update / steps * 1000, communication / steps * 1000, _o.Processes.Size > 1 ? _buckets.BytesPerStep : 0)
        {
            Parameters = Parameters,
        };
    }

    public void Dispose()
    {
        _x.Dispose();
        _y.Dispose();
        _sgd.Dispose();
        _model.Dispose();
    }
}
