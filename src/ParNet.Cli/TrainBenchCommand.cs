using System.CommandLine;
using System.Globalization;
using ParNet.Benchmarking;
using ParNet.Runtime;
using ParNet.Training;
using static TorchSharp.torch;

namespace ParNet.Cli;

/// <summary>`parnet train-bench`: training throughput (images/s) of a model on random data (<see cref="TrainingBenchmark"/>).</summary>
public sealed class TrainBenchCommand : CliCommand
{
    readonly TrainModelOptions _model = new();
    readonly Option<int?> _size = CliOption.Int("--size", "input side (default 32: the Fashion-MNIST/CIFAR training side)");
    readonly Option<int?> _batchSize = CliOption.Int("--batch-size", "images per step (default 128: the fashion-mnist recipe's batch)");
    readonly Option<int?> _steps = CliOption.Int("--steps", "timed steps, after 2 untimed ones (default 10)");
    readonly Option<int?> _threads = CliOption.Int("--threads", "torch threads (default: all logical cores)");
    readonly Option<bool> _bf16 = CliOption.Switch("--bf16", "bfloat16 weights/activations, float32 master weights in the optimizer");
    readonly Option<bool> _channelsLast = CliOption.ChannelsLast("channels_last weights and batches, as the trainer runs");
    readonly Option<bool> _forwardOnly = CliOption.Switch("--forward-only", "time only the eval-mode forward pass under no_grad (inference cost of the same model)");

    public override string Name => "train-bench";
    public override string Summary => "measure training throughput (forward+backward+SGD step) of the fashion-mnist recipe's model on random data";

    protected override void Declare(Command command)
    {
        _model.AddTo(command);
        command.Add(_size, _batchSize, _steps, _threads, _bf16, _channelsLast, _forwardOnly);
    }

    /// <summary>Under mpiexec -n N each process times N-way data-parallel steps (gradients all-reduced); rank 0 prints.</summary>
    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        using var group = ParNet.Distributed.MpiLaunch.Start();
        if (group.Rank > 0) stdout = TextWriter.Null;
        var config = _model.Build(parse, Recipes.FashionMnist, "fashion-mnist", null);
        var options = new TrainingBenchmarkOptions
        {
            Model = config, ImageSize = parse.GetValue(_size) ?? 32, Batch = parse.GetValue(_batchSize) ?? 128, Steps = parse.GetValue(_steps) ?? 10,
            BFloat16 = parse.GetValue(_bf16), ChannelsLast = parse.GetValue(_channelsLast), ForwardOnly = parse.GetValue(_forwardOnly),
            Processes = group,
        };
        int threads = parse.GetValue(_threads) ?? Environment.ProcessorCount;
        if (options.Steps < 1 || options.Batch < 1 || threads < 1) throw new UsageException("--steps, --batch-size and --threads must be >= 1");
        UsageException.Wrap(() => config.CheckImageSize(options.ImageSize, options.ImageSize), "--size");
        stdout.WriteLine($"cpu: {CpuCapabilities.Current.Describe()}");
        if (options.BFloat16 && CpuCapabilities.Current.Bf16Warning() is { } slow) stderr.WriteLine($"parnet train-bench: warning: --bf16: {slow}");
        set_num_threads(threads);
        var r = TrainingBenchmark.Run(options);
        string split = options.ForwardOnly
            ? string.Create(CultureInfo.InvariantCulture, $"(forward only, {r.ForwardMs:F0} ms per batch)")
            : string.Create(CultureInfo.InvariantCulture, $"(per step: forward {r.ForwardMs:F0} ms, backward {r.BackwardMs:F0} ms, update {r.UpdateMs:F0} ms" +
                $"{(group.Size > 1 ? $", gradient all-reduce {r.CommunicationMs:F1} ms for {r.BytesPerStep:N0} bytes" : "")})");
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{config.Name} {options.ImageSize}x{options.ImageSize} batch {options.Batch} {(options.BFloat16 ? "bf16" : "fp32")} " +
            $"{(options.ChannelsLast ? "channels_last" : "NCHW")} threads {threads}{(group.Size > 1 ? $" x {group.Size} processes (batch per process)" : "")}: " +
            $"{r.ImagesPerSecond:0.#} img/s {split}"));
        return 0;
    }
}
