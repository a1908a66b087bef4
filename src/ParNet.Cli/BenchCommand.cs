using ParNet.Benchmarking;
using ParNet.Inference;
using static TorchSharp.torch;

namespace ParNet.Cli;

/// <summary>`parnet bench`: inference latency/throughput of ParNet variants, ONNX Runtime and TorchVision ResNets.</summary>
public sealed class BenchCommand : ICommand
{
    public string Name => "bench";
    public string Summary => "inference latency and throughput: ParNet unfused/fused/parallel/bf16/ONNX Runtime vs ResNets";
    public string Usage => $"""
        usage: parnet bench [{ModelOptions.Usage}] [--weights W] [--image-size N] [--batch N] [--warmup N] [--repeats N]
                            [--throughput-repeats N] [--threads N] [--only KEY,KEY...] [--investigate] [--omp-wait-policy passive|active] [--out DIR]
                            [--stream-devices cuda:0,cuda:1,cuda:2]
                            [--pytorch-code DIR [--python PATH] [--pytorch-fixture FILE]]
          --model        the ParNet to measure (default parnet_s)
          --only         a subset of: {string.Join(", ", InferenceBenchmark.VariantKeys)}
          --investigate  also time ResNet-18 with no_grad, channels_last and 1 thread (TorchSharp vs PyTorch speed)
          --omp-wait-policy passive|active  OpenMP threads sleep (passive) or spin (active) between parallel regions;
                         passive is far faster when other processes share the cores (see results/inference.md)
          --stream-devices  adds the row "fused-devices": one device per stream (the paper's Table 3); GPUs need a
                         CUDA build of TorchSharp (this one is TorchSharp-cpu: cpu,cpu,cpu runs the same code path)
          --pytorch-code DIR  also time the authors' released PyTorch code (a checkout of github.com/imankgoyal/NonDeepNetworks)
                         unfused and fused, and torchvision's ResNets, on PyTorch in a child process after our rows
                         (Debian: apt-get install python3-torch python3-torchvision)
          --python       the Python with PyTorch (default /usr/bin/python3, where Debian's python3-torch lives)
          --pytorch-fixture FILE  parnet_official_tiny_silu.safetensors: check first that DIR reproduces the fixture's logits
          --out          folder for bench.json, bench.md, bench.png (default results/bench)
          defaults: image 224 (32 for CIFAR layouts), batch 8, warm-up 3, 15 batch-1 runs, 4 batch-N runs,
                    threads = logical cores ({Environment.ProcessorCount} here). Quiet machines only: other processes skew timings.
        """;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "setenv")]
    static extern int SetNativeEnvironment(string name, string value, int overwrite);

    static Device[] ParseDevices(string spec)
    {
        try { return MultiDeviceStreamExecutor.ParseDevices(spec); }
        catch (ArgumentException e) { throw new UsageException($"--stream-devices {spec}: {e.Message}"); }
    }

    public int Run(CliArgs args, TextWriter stdout)
    {
        var config = ModelOptions.Read(args, defaultModel: "parnet_s");
        string? weights = args.String("weights");
        int size = args.Int("image-size") ?? config.DefaultImageSize;
        int batch = args.Int("batch") ?? 8;
        int warmup = args.Int("warmup") ?? 3;
        int repeats = args.Int("repeats") ?? 15;
        int throughputRepeats = args.Int("throughput-repeats") ?? 4;
        int threads = args.Int("threads") ?? Environment.ProcessorCount;
        string? only = args.String("only");
        bool investigate = args.Flag("investigate");
        string output = args.String("out") ?? Path.Combine("results", "bench");
        string? waitPolicy = args.String("omp-wait-policy");
        string? streamDevices = args.String("stream-devices");
        string? pytorchCode = args.String("pytorch-code");
        string? python = args.String("python");
        string? pytorchFixture = args.String("pytorch-fixture");
        args.ThrowIfUnused();
        if (waitPolicy is not null)
        {
            if (waitPolicy is not ("passive" or "active")) throw new UsageException($"--omp-wait-policy {waitPolicy}: use passive or active");
            // read by libgomp when libtorch loads: effective only before the first torch call of the process
            SetNativeEnvironment("OMP_WAIT_POLICY", waitPolicy.ToUpperInvariant(), 1);
            Environment.SetEnvironmentVariable("OMP_WAIT_POLICY", waitPolicy.ToUpperInvariant());
        }

        HashSet<string>? keys = only?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
        if ((python is not null || pytorchFixture is not null) && pytorchCode is null)
            throw new UsageException("--python and --pytorch-fixture go with --pytorch-code DIR");
        if (pytorchCode is not null && !Directory.Exists(pytorchCode))
            throw new UsageException($"--pytorch-code {pytorchCode}: no such folder (a checkout of github.com/imankgoyal/NonDeepNetworks)");
        if (pytorchFixture is not null && !File.Exists(pytorchFixture))
            throw new UsageException($"--pytorch-fixture {pytorchFixture}: no such file");

        var options = new InferenceBenchmarkOptions
        {
            Model = config, Weights = weights, ImageSize = size, Batch = batch, Warmup = warmup, Repeats = repeats,
            ThroughputRepeats = throughputRepeats, Threads = threads, Only = keys, Investigate = investigate,
            StreamDevices = streamDevices is null ? null : ParseDevices(streamDevices),
            PyTorch = pytorchCode is null ? null
                : new PyTorchReferenceOptions { AuthorsCode = pytorchCode, Python = python ?? "/usr/bin/python3", Fixture = pytorchFixture },
            Log = line => stdout.WriteLine($"  timing {line} ..."),
        };
        try { options.Validate(); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException) { throw new UsageException(e.Message); }
        string command = "parnet bench " + string.Join(" ", Environment.GetCommandLineArgs().Skip(2));
        var report = InferenceBenchmark.Run(options, command);
        var files = BenchmarkReportWriter.Write(report, output);
        stdout.WriteLine(BenchmarkReportWriter.ToMarkdown(report));
        stdout.WriteLine($"wrote {string.Join(", ", files)}");
        return 0;
    }
}
