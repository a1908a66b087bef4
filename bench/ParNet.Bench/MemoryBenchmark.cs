using ParNet.Models.Tracing;
// Suite "memory": how much memory one image takes in a forward pass of a ParNet (random weights), as peak resident memory
// of this process (Linux VmHWM, native memory included) above what it held before the pass, per image, in four forms:
//  1. inference: the training form in eval mode under inference_mode, in one dispose scope (what predict and serve run)
//  2. fused inference: the same after ParNetFuser
//  3. evaluation: the training form in eval mode under no_grad (what eval and training's evaluations run)
//  4. training step: train mode, forward, cross-entropy and backward (gradients kept until the step's scope ends)
// Each form runs --repeats times at --batch images; the heap's free memory is returned (malloc_trim) and the peak reset
// (/proc/self/clear_refs, 5) before each, and the smallest peak of the repeats is quoted. Beside them, the estimates
// `ForwardMemory` sizes and refuses batches by (the traced tensors alive at once; the conv outputs alive at once, a lower
// bound; the largest layer's input and output, ONNX Runtime's; the tensors a training step saves for backward, a lower
// bound) for the same image.
// Run: dotnet run -c Release --project bench/ParNet.Bench -- memory [--model parnet_s] [--image-size 224] [--batch 16] [--repeats 3]
using System.CommandLine;
using System.Globalization;
using ParNet.Fusion;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Runtime;
using static TorchSharp.torch;

namespace ParNet.Bench;

public sealed class MemoryBenchmark : IBenchmark
{
    readonly Option<string> _model = SuiteOption.Model();
    readonly Option<int> _imageSize = SuiteOption.PositiveInt("--image-size", 224, "input side (224: the paper's ImageNet setting)");
    readonly Option<int> _batch = SuiteOption.PositiveInt("--batch", 16, "images per pass (16: per-image memory well above the process's own noise of tens of MB)");
    readonly Option<int> _repeats = SuiteOption.PositiveInt("--repeats", 3, "passes per form; the smallest peak is quoted (3: the first may also fill caches)");

    public Command Build()
    {
        var command = new Command("memory", "peak resident memory per image of a ParNet's inference, evaluation and training passes (random weights)")
            .WithOptions(_model, _imageSize, _batch, _repeats);
        command.SetAction(parse => Run(parse.GetValue(_model)!, parse.GetValue(_imageSize), parse.GetValue(_batch), parse.GetValue(_repeats)));
        return command;
    }

    static int Run(string model, int size, int batch, int repeats)
    {
        set_num_threads(Environment.ProcessorCount);
        Console.WriteLine($"memory benchmark: {model}, batch {batch}, {size}x{size}, fp32, channels_last, {SuiteOption.Machine()}, " +
                          $".NET {Environment.Version}, intra-op threads {get_num_threads()}, best of {repeats} passes per form");
        using var trained = (ParNetModel)ModelRegistry.Create(model);
        using var fused = ParNetFuser.Fuse(trained);
        MemoryFormat.ToChannelsLast(trained);
        MemoryFormat.ToChannelsLast(fused);
        manual_seed(0);
        using var x = MemoryFormat.ToChannelsLast(randn(batch, trained.Config.InChannels, size, size));
        using var labels = randint(0, trained.Config.NumClasses, [batch], dtype: ScalarType.Int64);

        var forms = new (string Name, Action Pass)[]
        {
            ("inference (inference_mode, training form)", () => { trained.eval(); using var m = inference_mode(true); trained.call(x); }),
            ("inference, fused", () => { using var m = inference_mode(true); fused.call(x); }),
            ("evaluation (no_grad, training form)", () => { trained.eval(); using var g = no_grad(); trained.call(x); }),
            ("training step (forward, loss, backward)", () =>
            {
                trained.train();
                nn.functional.cross_entropy(trained.call(x), labels).backward();
                trained.zero_grad();
            }),
        };
        fused.eval();
        var graph = trained.Trace(size, size);
        Console.WriteLine($"estimates per image: the tensors alive at once {Mb(ForwardMemory.TensorsAliveAtOnce(graph).BytesPerImage)} " +
                          $"(fused form {Mb(ForwardMemory.TensorsAliveAtOnce(fused.Trace(size, size)).BytesPerImage)}), " +
                          $"the conv outputs alive at once {Mb(ForwardMemory.LayerOutputsAliveAtOnce(graph).BytesPerImage)} " +
                          $"(fused {Mb(ForwardMemory.LayerOutputsAliveAtOnce(fused.Trace(size, size)).BytesPerImage)}), " +
                          $"the largest layer's input and output {Mb(ForwardMemory.OfLargestLayer(graph).BytesPerImage)}; " +
                          $"a training step's saved tensors {Mb(ForwardMemory.SavedForBackward(graph).BytesPerImage)}");
        Console.WriteLine("| form | peak above the start, MB a pass | MB an image |");
        Console.WriteLine("|---|---:|---:|");
        foreach (var (name, pass) in forms)
        {
            double best = double.MaxValue;
            for (int r = 0; r < repeats; r++)
            {
                double before = StartPeak();
                using (NewDisposeScope()) pass();
                best = Math.Min(best, PeakMiB() - before);
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {best * 1.048576:F0} | {best * 1.048576 / batch:F1} |"));
        }
        return 0;
    }

    /// <summary>Returns the heap's free memory, resets the kernel's peak to the resident size now and answers it (MiB).</summary>
    static double StartPeak()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        double now = MachineMemory.ResidentMiB();
        File.WriteAllText("/proc/self/clear_refs", "5");
        return now;
    }

    static double PeakMiB() => File.ReadLines("/proc/self/status").Where(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))
        .Select(l => double.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0).First();

    static string Mb(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:F1} MB");
}
