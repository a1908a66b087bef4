// Suite "winograd": one 3x3 stride-1 conv of each ParNet-S stream at 224 (96 channels at 56x56, 192 at 28x28, 384 at
// 14x14; batch 1, float32, channels_last, inference_mode, random weights), timed three ways in interleaved rounds:
//  1. the direct conv (oneDNN's NHWC kernel, what `fused-channels-last` runs);
//  2. Winograd F(4x4, 3x3) (Runtime/WinogradConvolution: transforms and products in C#, on libtorch's OpenMP threads);
//  3. its 36 products alone, two ways: Runtime/PanelGemm on the weight packed once, on libtorch's OpenMP threads, and
//     libtorch's bmm on the unpacked weight (which MKL packs on every call).
// Every run first does what the model does before a conv, a libtorch op over the layer's input (a SiLU): its OpenMP
// workers are then still spinning, the state a kernel meets inside a forward pass (RESULTS.md, "Winograd products").
// Medians in ms and the per-round median of direct / Winograd. Threads: the logical cores (torch.set_num_threads).
// --layers and --batch time other shapes: the fashion-mnist training network's convs are
// `--layers 16x32,32x16,64x8 --batch 128` (whether Winograd could speed up training's forward and backward-data convs).
// Run: dotnet run -c Release --project bench/ParNet.Bench -- winograd [--rounds 30] [--warmup 5] [--layers CxS,...] [--batch N] [--threads N]
using System.CommandLine;
using ParNet.Benchmarking;
using ParNet.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace ParNet.Bench;

public sealed class WinogradBenchmark : IBenchmark
{
    readonly Option<int> _rounds = SuiteOption.WithAlias(SuiteOption.PositiveInt("--rounds", 30, "timed rounds, each form once a round (30: layers take milliseconds, medians need more runs)"), "--runs");   // "rounds" as bench and train-bench; --runs before
    readonly Option<int> _warmup = SuiteOption.PositiveInt("--warmup", 5, "untimed rounds first (5: allocator and oneDNN caches settle)");
    readonly Option<string> _layers = new("--layers")
    {
        Description = "square convs to time, channels x side, comma-separated (default 96x56,192x28,384x14: one per ParNet-S stream at 224)",
        DefaultValueFactory = _ => "96x56,192x28,384x14",
    };
    readonly Option<int> _batch = SuiteOption.WithAlias(SuiteOption.PositiveInt("--batch-size", 1, "images per conv (1: batch-1 latency, what the inference targets are about)"), "--batch");
    readonly Option<int> _threads = SuiteOption.PositiveInt("--threads", Environment.ProcessorCount, "intra-op threads (default: the logical cores)");

    public Command Build()
    {
        _layers.Validators.Add(r =>
        {
            try { Layers(r.GetValueOrDefault<string>()!); }
            catch (ArgumentException e) { r.AddError(e.Message); }
        });
        var command = new Command("winograd", "one ParNet-S conv per stream: direct against Winograd, and Winograd's products against bmm")
            .WithOptions(_rounds, _warmup, _layers, _batch, _threads);
        command.SetAction(parse => Run(parse.GetValue(_rounds), parse.GetValue(_warmup), Layers(parse.GetValue(_layers)!), parse.GetValue(_batch), parse.GetValue(_threads)));
        return command;
    }

    static (int Channels, int Side)[] Layers(string text) => text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(layer =>
    {
        var parts = layer.Split('x');
        return parts.Length == 2 && int.TryParse(parts[0], out int c) && int.TryParse(parts[1], out int side) && c > 0 && c % WinogradConvolution.Lanes == 0 && side > 0
            ? (c, side)
            : throw new ArgumentException($"--layers: '{layer}' is not CHANNELSxSIDE with channels a multiple of {WinogradConvolution.Lanes} (e.g. 96x56)");
    }).ToArray();

    static int Run(int rounds, int warmup, (int Channels, int Side)[] layers, int batch, int threads)
    {
        if (!WinogradConvolution.IsSupported) { Console.Error.WriteLine($"winograd: {WinogradConvolution.UnsupportedReason}"); return 1; }
        set_num_threads(threads);
        Console.WriteLine($"winograd benchmark: batch {batch}, float32, channels_last, inference_mode, {SuiteOption.Machine()}, {get_num_threads()} intra-op threads, " +
                          $"loops on {(OpenMpParallel.OnOpenMpThreads ? "libtorch's OpenMP threads" : ".NET's thread pool")}, {warmup} warm-up + {rounds} interleaved rounds");
        Console.WriteLine("| layer | direct ms | Winograd ms | direct / Winograd, per round | products: PanelGemm ms | products: bmm ms |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        using var mode = inference_mode(true);
        foreach (var (channels, side) in layers)
        {
            using var scope = NewDisposeScope();
            manual_seed(0);
            var conv = nn.Conv2d(channels, channels, 3, padding: 1);
            MemoryFormat.ToChannelsLast(conv);
            var x = MemoryFormat.ToChannelsLast(randn(batch, channels, side, side));
            using var u = WinogradConvolution.TransformWeight(conv.weight!, 1);
            var bias = conv.bias!.detach();
            using var products = new Products(channels, side, batch);
            var times = TimingStats.MeasureInterleaved(
            [
                () => { using var s = NewDisposeScope(); x.silu(); conv.call(x); },
                () => { using var s = NewDisposeScope(); x.silu(); WinogradConvolution.Convolve(x, u, bias); },
                () => { using var s = NewDisposeScope(); x.silu(); products.Panel(); },
                () => { using var s = NewDisposeScope(); x.silu(); products.Bmm(); },
            ], warmup, rounds);
            var ms = times.Select(t => TimingStats.Of(t).Median * 1e3).ToArray();
            double perRound = TimingStats.Of(times[0].Zip(times[1], (d, w) => d / w).ToList()).Median;
            Console.WriteLine($"| {channels} x {side} x {side} | {ms[0]:F2} | {ms[1]:F2} | {perRound:F2}x | {ms[2]:F2} | {ms[3]:F2} |");
        }
        return 0;
    }

    /// <summary>The 36 products of a square conv's Winograd on random operands: [tiles x C] x [C x C] (the tiles of the whole batch), tiles padded to the
    /// kernel's row block as WinogradConvolution pads them.</summary>
    sealed class Products(int channels, int side, int batch) : IDisposable
    {
        readonly Tensor _v = randn(36, PanelGemm.PaddedRows(batch * ((side + 3) / 4) * ((side + 3) / 4)), channels).DetachFromDisposeScope();
        readonly Tensor _u = randn(36, channels, channels).DetachFromDisposeScope();
        Tensor? _packed, _m;

        public void Panel()
        {
            _packed ??= PanelGemm.Pack(_u).DetachFromDisposeScope();
            _m ??= empty(36, _v.size(1), _packed.size(1) * PanelGemm.PanelWidth).DetachFromDisposeScope();
            PanelGemm.Multiply(_v, _packed, _m);
        }

        public void Bmm() => bmm(_v, _u);

        public void Dispose() { _v.Dispose(); _u.Dispose(); _packed?.Dispose(); _m?.Dispose(); }
    }
}
