using ParNet.Benchmarking;
using ParNet.Models;
using ParNet.Tests.Export;

namespace ParNet.Tests.Benchmarking;

/// <summary>
/// The plumbing of the PyTorch reference rows, with a stand-in for Python (a shell script that records its arguments
/// and commands and answers as the real script does). Real PyTorch is not installed in CI; the real run is in RESULTS.md.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]   // the stand-in for Python is a shell script
public class PyTorchReferenceTests
{
    /// <summary>An executable shell script FOLDER/python running <paramref name="body"/>: a stand-in for Python.</summary>
    internal static string FakePython(ExportTempFolder folder, string body)
    {
        string path = folder.File("python");
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    static InferenceBenchmarkOptions Options(string model) =>
        new() { Model = ModelRegistry.Get(model), ImageSize = 224, Batch = 4, Warmup = 2, Rounds = 3, ThroughputRounds = 1, Threads = 2 };

    const string Header = """{"torch": "1.13.1", "threads": 2, "rows": [{"key": "pytorch-fused", "name": "authors fused"}, {"key": "pytorch-resnet18", "name": "torchvision resnet18"}], "fixture_check": {"fixture": "tiny", "relative_l2_unfused": 1e-7, "relative_l2_fused": 2e-7}}""";

    /// <summary>Records its arguments and every command it is sent, prints <see cref="Header"/>, answers 0.025 s to each
    /// run and pong to ping (the real script's protocol, bench/pytorch/pytorch_reference.py).</summary>
    static string ServingPython(ExportTempFolder folder, string header = Header, string onRun = "echo 0.025") => FakePython(folder, $$$"""
        shift; echo "$@" > {{{folder.File("args.txt")}}}
        echo '  building the models' >&2
        echo '{{{header}}}'
        while read cmd rest; do
          echo "$cmd $rest" >> {{{folder.File("commands.txt")}}}
          case "$cmd" in
            quit) exit 0 ;;
            ping) echo pong ;;
            run) {{{onRun}}} ;;
          esac
        done
        """);

    [Fact]
    public void Passes_the_model_in_the_authors_convention_and_runs_a_model_when_asked()
    {
        using var folder = new ExportTempFolder();
        string python = ServingPython(folder);
        using var session = PyTorchReference.Start(new PyTorchReferenceOptions { AuthorsCode = "/somewhere", Python = python },
            Options("parnet_s"), new HashSet<string> { "pytorch-resnet18", "pytorch-fused" });

        // the authors' yaml names the released S as planes_92_192_384_1280_num_blocks_5_6_6_1: their num_blocks count
        // each stream's init block and end with the head block's 1
        string passed = File.ReadAllText(folder.File("args.txt"));
        Assert.Contains("--planes 96,192,384,1280 --num-blocks 5,6,6,1 --activation silu", passed);
        Assert.Contains("--image-size 224 --threads 2 --only pytorch-fused,pytorch-resnet18", passed);   // in Keys' order
        Assert.Contains("--code /somewhere", passed);
        Assert.Equal(("1.13.1", 2), (session.TorchVersion, session.Threads));
        Assert.Contains("relative L2 unfused 1.00E-007", session.FixtureCheck);
        Assert.Equal(["pytorch-fused", "pytorch-resnet18"], session.Rows.Select(r => r.Key));

        Assert.Equal(0.025, session.Run(1, batch: 4, untimed: 2));
        Assert.True(session.RoundTrip() > 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Run(2, 1));
        session.Dispose();   // asks it to quit
        Assert.Equal(["run 1 4 2", "ping ", "quit "], File.ReadAllLines(folder.File("commands.txt")));
    }

    [Fact]
    public void A_failing_python_is_reported_with_the_end_of_its_error_output()
    {
        using var folder = new ExportTempFolder();
        string python = FakePython(folder, "echo 'ModuleNotFoundError: No module named torch' >&2; exit 3");
        var e = Assert.Throws<PyTorchReferenceFailedException>(() => PyTorchReference.Start(new PyTorchReferenceOptions { AuthorsCode = "/x", Python = python },
            Options("parnet_s"), new HashSet<string> { "pytorch-unfused" }));
        Assert.Contains("exited with 3", e.Message);
        Assert.Contains("No module named torch", e.Message);
    }

    [Fact]
    public void A_child_that_dies_during_a_run_fails_it_with_its_error_output()
    {
        using var folder = new ExportTempFolder();
        string python = ServingPython(folder, onRun: "echo 'Killed: out of memory' >&2; exit 5");
        using var session = PyTorchReference.Start(new PyTorchReferenceOptions { AuthorsCode = "/x", Python = python },
            Options("parnet_s"), new HashSet<string> { "pytorch-fused" });
        var e = Assert.Throws<PyTorchReferenceFailedException>(() => session.Run(0, 1));
        Assert.Contains("exited with 5", e.Message);
        Assert.Contains("Killed: out of memory", e.Message);
    }

    [Fact]
    public void Bench_times_the_pytorch_rows_in_its_own_rounds_with_the_childs_own_seconds()
    {
        using var folder = new ExportTempFolder();
        string python = ServingPython(folder, """{"torch": "1.13.1", "threads": 2, "rows": [{"key": "pytorch-fused", "name": "authors fused"}]}""");
        Directory.CreateDirectory(folder.File("simplenet_impl"));   // the folder is checked to be a checkout of the authors' code
        File.WriteAllText(folder.File(Path.Combine("simplenet_impl", "simpnet.py")), "");
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = ParNet.Cli.CommandRunner.Run(["bench", "--model", "parnet_s", "--image-size", "64", "--only", "fused,pytorch-fused",
            "--pytorch-code", folder.Path, "--python", python, "--warmup", "1", "--rounds", "2", "--throughput-rounds", "1", "--batch", "2",
            "--out", folder.File("out")], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());

        // batch 1: one warm-up round (one run), two timed rounds of two untimed runs and a timed one; batch 2: one
        // warm-up round and one timed round; then quit (the five pings measure the round trip)
        var commands = File.ReadAllLines(folder.File("commands.txt"));
        Assert.Equal(1 + 2 * 3, commands.Count(c => c == "run 0 1 0"));
        Assert.Equal(1 + 1 * 3, commands.Count(c => c == "run 0 2 0"));
        Assert.Equal("quit ", commands[^1]);
        var rows = System.Text.Json.JsonDocument.Parse(File.ReadAllText(folder.File("out/bench.json"))).RootElement.GetProperty("results");
        Assert.Equal(["fused", "pytorch-fused"], rows.EnumerateArray().Select(r => r.GetProperty("key").GetString()));
        Assert.Equal(25.0, rows[1].GetProperty("latency_ms").GetProperty("median").GetDouble(), 9);   // the child's 0.025 s, not this side's clock
    }

    [Fact]
    public void Models_the_authors_code_cannot_build_are_refused_before_anything_runs()
    {
        Assert.Null(PyTorchReference.WhyUnsupported(ModelRegistry.Get("parnet_s92")));
        Assert.Contains("ImageNet layout", PyTorchReference.WhyUnsupported(ModelRegistry.Get("parnet_cifar_small")));
        Assert.Contains("ImageNet layout", PyTorchReference.WhyUnsupported(ModelRegistry.Get("parnet_s") with { UseSse = false }));
        Assert.Contains("3 input channels", PyTorchReference.WhyUnsupported(ModelRegistry.Get("parnet_s") with { InChannels = 1 }));
        var e = Assert.Throws<ArgumentException>(() => PyTorchReference.Start(new PyTorchReferenceOptions { AuthorsCode = "/x", Python = "/bin/true" },
            Options("parnet_cifar_small"), new HashSet<string> { "pytorch-fused" }));
        Assert.Contains("authors' code builds only", e.Message);
        Assert.Equal("PyTorch reference: the ParNet rows need the authors' code (PyTorchReferenceOptions.AuthorsCode = DIR)",
            Assert.Throws<ParNet.Runtime.InvalidSettingException>(() => PyTorchReference.Start(new PyTorchReferenceOptions { Python = "/bin/true" },
                Options("parnet_s92"), new HashSet<string> { "pytorch-fused" })).Message);
    }
}
