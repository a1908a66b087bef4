using System.Diagnostics;
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
    /// <summary>32: the Fashion-MNIST/CIFAR training side.</summary>
    public int ImageSize { get; init; } = 32;
    /// <summary>128: the fashion-mnist recipe's batch.</summary>
    public int Batch { get; init; } = 128;
    /// <summary>Timed steps, after <see cref="Warmup"/> untimed ones (first steps allocate and pick kernels).</summary>
    public int Steps { get; init; } = 10;
    public int Warmup { get; init; } = 2;
    public bool BFloat16 { get; init; }
    /// <summary>As the trainer (<see cref="TrainOptions.ChannelsLast"/>): weights and batches channels_last.</summary>
    public bool ChannelsLast { get; init; } = true;
    /// <summary>Time only the eval-mode forward pass under no_grad (the inference cost of the same model).</summary>
    public bool ForwardOnly { get; init; }
    /// <summary>Data-parallel processes (under mpiexec): each runs the batch, gradients are averaged every step.</summary>
    public ParNet.Distributed.IProcessGroup Processes { get; init; } = new ParNet.Distributed.SingleProcess();
}

/// <summary>Images per second and the split of a step; per-step means over the timed steps.</summary>
/// <summary>Per step: compute (forward, backward, update) and communication (the gradient all-reduce, waiting for the slowest process included).</summary>
public sealed record TrainingBenchmarkResult(double ImagesPerSecond, double ForwardMs, double BackwardMs, double UpdateMs, double CommunicationMs = 0, long BytesPerStep = 0)
{
    /// <summary>Of the timed model: what the PyTorch reference's network must match.</summary>
    public long Parameters { get; init; }
}

/// <summary>Training throughput of a model on random data (`parnet train-bench`). Threads are the caller's
/// (torch.set_num_threads); the model is seeded, so two runs time the same computation.</summary>
public static class TrainingBenchmark
{
    public static TrainingBenchmarkResult Run(TrainingBenchmarkOptions o)
    {
        if (o.Steps < 1 || o.Batch < 1 || o.Warmup < 0) throw new ArgumentException("steps and batch must be >= 1, warm-up >= 0");
        o.Model.CheckImageSize(o.ImageSize, o.ImageSize);
        manual_seed(0);
        using var model = ModelFactory.Create(o.Model);
        TrainingPreparation.Model(model, o.BFloat16, o.ChannelsLast);
        model.train();
        using var sgd = new Sgd(model.named_parameters(), 0.9, nesterov: true, 5e-4, noDecayBnBias: true, masterWeights: o.BFloat16) { LearningRate = 0.01 };
        var buckets = new ParNet.Distributed.GradientBuckets(model.parameters(), o.Processes);
        using var scope = NewDisposeScope();
        var x = TrainingPreparation.Input(randn(o.Batch, o.Model.InChannels, o.ImageSize, o.ImageSize), o.BFloat16, o.ChannelsLast);
        var y = randint(0, o.Model.NumClasses, [o.Batch], dtype: ScalarType.Int64);
        double forward = 0, backward = 0, update = 0, communication = 0;
        for (int i = -o.Warmup; i < o.Steps; i++)
        {
            using var step = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            if (o.ForwardOnly)
            {
                using (no_grad()) { model.eval(); model.call(x); }
                if (i >= 0) forward += clock.Elapsed.TotalSeconds;
                continue;
            }
            var loss = Losses.CrossEntropy(model.call(x), y, 0.1);
            double f = clock.Elapsed.TotalSeconds;
            sgd.ZeroGrad();
            loss.backward();
            double b = clock.Elapsed.TotalSeconds;
            buckets.Average();
            double c = clock.Elapsed.TotalSeconds;
            sgd.Step();
            double u = clock.Elapsed.TotalSeconds;
            if (i >= 0) { forward += f; backward += b - f; communication += c - b; update += u - c; }
        }
        double total = forward + backward + communication + update;
        return new TrainingBenchmarkResult((double)o.Steps * o.Batch * o.Processes.Size / total, forward / o.Steps * 1000, backward / o.Steps * 1000,
                                           update / o.Steps * 1000, communication / o.Steps * 1000, o.Processes.Size > 1 ? buckets.BytesPerStep : 0)
        {
            Parameters = model.parameters().Sum(p => p.numel()),
        };
    }
}
