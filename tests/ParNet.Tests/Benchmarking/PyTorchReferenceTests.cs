using ParNet.Benchmarking;
using ParNet.Models;
using ParNet.Tests.Export;

namespace ParNet.Tests.Benchmarking;

/// <summary>
/// The plumbing of the PyTorch reference rows, with a stand-in for Python (a shell script that records its arguments
/// and prints what the real script prints). Real PyTorch is not installed in CI; the real run is in RESULTS.md.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]   // the stand-in for Python is a shell script
public class PyTorchReferenceTests
{
    static string FakePython(ExportTempFolder folder, string body)
    {
        string path = folder.File("python");
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    static InferenceBenchmarkOptions Options(string model) =>
        new() { Model = ModelRegistry.Get(model), ImageSize = 224, Batch = 4, Warmup = 2, Repeats = 3, ThroughputRepeats = 1, Threads = 2 };

    [Fact]
    public void Passes_the_model_in_the_authors_convention_and_summarizes_their_raw_timings()
    {
        using var folder = new ExportTempFolder();
        string args = folder.File("args.txt");
        string python = FakePython(folder, $$$"""
            shift; echo "$@" > {{{args}}}
            echo '  timing x ...' >&2
            echo '{"torch": "1.13.1", "threads": 2, "results": [{"key": "pytorch-fused", "name": "authors fused", "latency_s": [0.03, 0.01, 0.02], "batch": 4, "batch_s": [0.2]},
                   {"key": "pytorch-resnet18", "name": "torchvision resnet18", "latency_s": [0.05], "batch": 4, "batch_s": [0.1]}],
                   "fixture_check": {"fixture": "tiny", "relative_l2_unfused": 1e-7, "relative_l2_fused": 2e-7}}'
            """);
        var outcome = PyTorchReference.Run(new PyTorchReferenceOptions { AuthorsCode = "/somewhere", Python = python },
            Options("parnet_s"), new HashSet<string> { "pytorch-fused", "pytorch-resnet18" }, 7.0, 5.0, name => name == "resnet18" ? 3.6 : 0);

        // the authors' yaml names the released S as planes_92_192_384_1280_num_blocks_5_6_6_1: their num_blocks count
        // each stream's init block and end with the head block's 1
        string passed = File.ReadAllText(args);
        Assert.Contains("--planes 96,192,384,1280 --num-blocks 5,6,6,1 --activation silu", passed);
        Assert.Contains("--image-size 224 --batch 4 --threads 2 --warmup 2 --repeats 3 --throughput-repeats 1", passed);
        Assert.Contains("--code /somewhere", passed);

        Assert.Equal("1.13.1", outcome.TorchVersion);
        Assert.Contains("relative L2 unfused 1.00E-007", outcome.FixtureCheck);
        var fused = outcome.Results[0];
        Assert.Equal((0.02, 0.01, 0.03, 3), (fused.Latency.Median, fused.Latency.Min, fused.Latency.Max, fused.Latency.Runs));
        Assert.Equal((5.0, 20.0, "PyTorch 1.13.1"), (fused.GflopPerImage, fused.ImagesPerSecond, fused.Engine));
        Assert.Equal(3.6, outcome.Results[1].GflopPerImage);
    }

    [Fact]
    public void A_failing_python_is_reported_with_the_end_of_its_error_output()
    {
        using var folder = new ExportTempFolder();
        string python = FakePython(folder, "echo 'ModuleNotFoundError: No module named torch' >&2; exit 3");
        var e = Assert.Throws<InvalidOperationException>(() => PyTorchReference.Run(new PyTorchReferenceOptions { AuthorsCode = "/x", Python = python },
            Options("parnet_s"), new HashSet<string> { "pytorch-unfused" }, 1, 1, _ => 1));
        Assert.Contains("exited with 3", e.Message);
        Assert.Contains("No module named torch", e.Message);
    }

    [Fact]
    public void Models_the_authors_code_cannot_build_are_refused_before_anything_runs()
    {
        Assert.Null(PyTorchReference.WhyUnsupported(ModelRegistry.Get("parnet_s92")));
        Assert.Contains("ImageNet layout", PyTorchReference.WhyUnsupported(ModelRegistry.Get("parnet_cifar_small")));
        Assert.Contains("ImageNet layout", PyTorchReference.WhyUnsupported(ModelRegistry.Get("parnet_s") with { UseSse = false }));
        Assert.Contains("3 input channels", PyTorchReference.WhyUnsupported(ModelRegistry.Get("parnet_s") with { InChannels = 1 }));
        var e = Assert.Throws<ArgumentException>(() => PyTorchReference.Run(new PyTorchReferenceOptions { AuthorsCode = "/x", Python = "/bin/true" },
            Options("parnet_cifar_small"), new HashSet<string> { "pytorch-fused" }, 1, 1, _ => 1));
        Assert.Contains("authors' code builds only", e.Message);
    }
}
