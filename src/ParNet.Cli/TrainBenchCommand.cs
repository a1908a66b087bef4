using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ParNet.Models;
using ParNet.Runtime;
using TorchSharp;
using ParNet.Training;
using static TorchSharp.torch;

namespace ParNet.Cli;

/// <summary>`parnet train-bench`: training throughput (images/s) of a model on random data, float32 vs bfloat16.</summary>
public sealed class TrainBenchCommand : CliCommand
{
    readonly TrainModelOptions _model = new();
    readonly Option<int?> _size = CliOption.Int("--size", "input side (default 32: the Fashion-MNIST/CIFAR training side)");
    readonly Option<int?> _batchSize = CliOption.Int("--batch-size", "images per step (default 128: the fashion-mnist recipe's batch)");
    readonly Option<int?> _steps = CliOption.Int("--steps", "timed steps, after 2 untimed ones (default 10)");
    readonly Option<int?> _threads = CliOption.Int("--threads", "torch threads (default: all logical cores)");
    readonly Option<bool> _bf16 = CliOption.Switch("--bf16", "bfloat16 weights/activations, float32 master weights in the optimizer");
    readonly Option<bool> _forwardOnly = CliOption.Switch("--forward-only", "time only the eval-mode forward pass under no_grad (inference cost of the same model)");

    public override string Name => "train-bench";
    public override string Summary => "measure training throughput (forward+backward+SGD step) of the fashion-mnist recipe's model on random data";

    protected override void Declare(Command command)
    {
        _model.AddTo(command);
        command.Add(_size, _batchSize, _steps, _threads, _bf16, _forwardOnly);
    }

    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        var recipe = Recipes.FashionMnist;
        var config = _model.Build(parse, recipe, "fashion-mnist", null);
        int size = parse.GetValue(_size) ?? 32, batch = parse.GetValue(_batchSize) ?? 128, steps = parse.GetValue(_steps) ?? 10;
        int threads = parse.GetValue(_threads) ?? Environment.ProcessorCount;
        bool bf16 = parse.GetValue(_bf16);
        bool forwardOnly = parse.GetValue(_forwardOnly);
        if (steps < 1 || batch < 1 || threads < 1) throw new UsageException("--steps, --batch-size and --threads must be >= 1");
        UsageException.Wrap(() => config.CheckImageSize(size, size), "--size");
        stdout.WriteLine($"cpu: {CpuCapabilities.Current.Describe()}");
        if (bf16 && CpuCapabilities.Current.Bf16Warning() is { } slow) stderr.WriteLine($"parnet train-bench: warning: --bf16: {slow}");
        set_num_threads(threads);
        manual_seed(0);
        using var model = ModelFactory.Create(config);
        if (bf16) model.to(ScalarType.BFloat16);
        model.train();
        using var opt = new Sgd(model.named_parameters(), 0.9, true, 5e-4, true, masterWeights: bf16) { LearningRate = 0.01 };
        using var x0 = randn(batch, config.InChannels, size, size);
        using var x = bf16 ? x0.to(ScalarType.BFloat16) : x0.alias();
        using var y = randint(0, config.NumClasses, [batch], dtype: ScalarType.Int64);
        double fwd = 0, bwd = 0, upd = 0;
        for (int i = -2; i < steps; i++)
        {
            using var scope = NewDisposeScope();
            var sw = Stopwatch.StartNew();
            if (forwardOnly)
            {
                using (no_grad()) { model.eval(); model.call(x); }
                if (i >= 0) fwd += sw.Elapsed.TotalSeconds;
                continue;
            }
            var loss = Losses.CrossEntropy(model.call(x), y, 0.1);
            double f = sw.Elapsed.TotalSeconds;
            opt.ZeroGrad();
            loss.backward();
            double b = sw.Elapsed.TotalSeconds;
            opt.Step();
            double u = sw.Elapsed.TotalSeconds;
            if (i >= 0) { fwd += f; bwd += b - f; upd += u - b; }
        }
        double total = fwd + bwd + upd;
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{config.Name} {size}x{size} batch {batch} {(bf16 ? "bf16" : "fp32")} threads {threads}: {steps * batch / total:F0} img/s " +
            $"(per step: forward {fwd / steps * 1000:F0} ms, backward {bwd / steps * 1000:F0} ms, update {upd / steps * 1000:F0} ms)"));
        return 0;
    }
}
