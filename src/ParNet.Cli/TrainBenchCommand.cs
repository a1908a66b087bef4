using System.Diagnostics;
using System.Globalization;
using ParNet.Models;
using TorchSharp;
using ParNet.Training;
using static TorchSharp.torch;

namespace ParNet.Cli;

/// <summary>`parnet train-bench`: training throughput (images/s) of a model on random data, float32 vs bfloat16.</summary>
public sealed class TrainBenchCommand : ICommand
{
    public string Name => "train-bench";
    public string Summary => "measure training throughput (forward+backward+SGD step) on random data";
    public string Usage => """
        usage: parnet train-bench [--model NAME | --config FILE.json] [--width W] [--size 32] [--batch-size 128]
                                  [--steps 10] [--threads N] [--bf16] [--channels 1] [--classes 10]
        """;

    public int Run(CliArgs args, TextWriter stdout)
    {
        var recipe = Recipes.FashionMnist;
        var config = TrainCommand.BuildModelConfig(args, recipe, "fashion-mnist", null);
        int size = args.Int("size") ?? 32, batch = args.Int("batch-size") ?? 128, steps = args.Int("steps") ?? 10;
        int threads = args.Int("threads") ?? Environment.ProcessorCount;
        bool bf16 = args.Flag("bf16");
        bool forwardOnly = args.Flag("forward-only");
        args.ThrowIfUnused();
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
