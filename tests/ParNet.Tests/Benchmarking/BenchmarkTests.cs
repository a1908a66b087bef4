using System.Text.Json;
using ParNet.Benchmarking;
using ParNet.Cli;
using ParNet.Tests.Export;

namespace ParNet.Tests.Benchmarking;

/// <summary>The benchmark's bookkeeping (no timing is asserted: the machine is shared).</summary>
public class BenchmarkTests
{
    [Fact]
    public void Timing_stats_take_median_min_and_max()
    {
        var s = TimingStats.Of([0.3, 0.1, 0.2, 0.5]);
        Assert.Equal((0.25, 0.1, 0.5, 4), (s.Median, s.Min, s.Max, s.Runs));
        Assert.Equal(0.2, TimingStats.Of([0.3, 0.1, 0.2]).Median);
        int calls = 0;
        var measured = TimingStats.Measure(() => calls++, warmup: 2, repeats: 3);
        Assert.Equal(5, calls);
        Assert.Equal(3, measured.Runs);
    }

    [Fact]
    public void Interleaved_rounds_run_every_form_once_a_round_starting_each_round_with_the_next_form()
    {
        var order = new List<char>();
        var times = TimingStats.MeasureInterleaved([() => order.Add('a'), () => { order.Add('b'); Thread.Sleep(20); }, () => order.Add('c')], warmup: 1, rounds: 3);
        Assert.Equal("abc" + "bca" + "cab" + "abc", new string(order.ToArray()));   // the warm-up round, then three timed ones
        Assert.Equal([3, 3, 3], times.Select(t => t.Length));
        Assert.All(times[1], s => Assert.True(s >= 0.019, $"b's time {s} s is not b's"));   // each form's times are its own
        Assert.Throws<ArgumentException>(() => TimingStats.MeasureInterleaved([() => { }], warmup: 0, rounds: 0));
    }

    [Fact]
    public void Warm_interleaved_rounds_time_the_last_of_each_forms_runs()
    {
        var order = new List<char>();
        int bCalls = 0;
        // b's calls: 1 in the warm-up round, 2-4 in timed round 0, 5-7 in round 1; it sleeps on 4 and 7 only, the last of
        // each three, so its times are the sleeping ones only if the runs before it are the untimed ones
        var times = TimingStats.MeasureInterleaved([() => order.Add('a'), () => { order.Add('b'); if (++bCalls is 4 or 7) Thread.Sleep(20); }],
                                                   warmup: 1, rounds: 2, untimedBefore: 2);
        Assert.Equal("ab" + "bbbaaa" + "aaabbb", new string(order.ToArray()));   // the warm-up round runs each once
        Assert.All(times[1], s => Assert.True(s >= 0.019, $"b's timed run took {s} s: an untimed one was timed"));
        Assert.Throws<ArgumentException>(() => TimingStats.MeasureInterleaved([() => { }], warmup: 0, rounds: 1, untimedBefore: -1));
    }

    [Fact]
    public void Bench_writes_json_markdown_and_png_for_the_chosen_variants()
    {
        using var folder = new ExportTempFolder();
        string config = folder.File("small.json");
        File.WriteAllText(config, (ParNet.Models.ModelRegistry.Get("parnet_cifar_small") with { Planes = [8, 16, 32], FinalWidth = 32, BlocksPerStream = [1, 1, 1] }).ToJson());
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = CommandRunner.Run(["bench", "--config", config, "--only", "unfused,fused,fused-parallel,fused-devices,onnx-parallel", "--stream-devices", "cpu,cpu,cpu", "--rounds", "1",
            "--throughput-rounds", "1", "--warmup", "0", "--batch-size", "2", "--out", folder.File("out")], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        var json = JsonDocument.Parse(File.ReadAllText(folder.File("out/bench.json"))).RootElement;
        Assert.Equal(["unfused", "fused", "fused-parallel", "fused-devices", "onnx-parallel"],
            json.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("key").GetString()));
        var fused = json.GetProperty("results")[1];
        var unfused = json.GetProperty("results")[0];
        Assert.True(fused.GetProperty("gflop_per_image").GetDouble() < unfused.GetProperty("gflop_per_image").GetDouble());
        Assert.True(json.GetProperty("matmul_2048_gflops").GetDouble() > 0);
        string md = File.ReadAllText(folder.File("out/bench.md"));
        Assert.Contains("- machine: ", md);
        // --warmup 0: none at either batch (the header said "warm-up N rounds" for both where the batch-N rounds take at most one)
        Assert.Contains("warm-up 0 round(s) at batch 1, 0 at batch 2;", md);
        Assert.Equal(0, json.GetProperty("throughput_warmup").GetInt32());
        Assert.Contains("- command: `parnet bench", md);
        Assert.True(new FileInfo(folder.File("out/bench.png")).Length > 1000);
        // stdout is the report alone (`bench > report.md` began with the progress lines); the progress is on stderr
        Assert.StartsWith("# Inference benchmark: ", stdout.ToString());
        Assert.Contains("  timing batch 1: 5 row(s), 0 warm-up + 1 interleaved rounds ...\n", stderr.ToString());
    }

    /// <summary>"% matmul" divided each row's median rate by the matmul's best run, read up to 20% apart from its median
    /// (bench audit): the columns divide by the median, and the header says so.</summary>
    [Fact]
    public void Percent_of_matmul_divides_each_rows_median_rate_by_the_median_matmul()
    {
        var row = new BenchmarkResult
        {
            Key = "fused", Name = "parnet_s fused", Engine = "TorchSharp", GflopPerImage = 2, Batch = 4,
            Latency = new TimingStats(0.05, 0.04, 0.06, 3), BatchTime = new TimingStats(0.1, 0.1, 0.1, 1),   // 40 and 80 GFLOP/s
        };
        var report = new BenchmarkReport
        {
            Options = new InferenceBenchmarkOptions { Model = ParNet.Models.ModelRegistry.Get("parnet_s"), Threads = 1, Batch = 4 },
            Conditions = BenchmarkConditions.Unrecorded,
            MatmulGflops = 200, MatmulGflopsMedian = 160, Results = [row],
        };
        string md = BenchmarkReportWriter.ToMarkdown(report);
        Assert.Contains("| 40 | 25% | 40.0 | 80 | 50% |", md);   // 40 / 160 and 80 / 160, not 40 / 200 and 80 / 200
        Assert.Contains("160 GFLOP/s median, 200 best", md);
        var result = JsonDocument.Parse(BenchmarkReportWriter.ToJson(report)).RootElement.GetProperty("results")[0];
        Assert.Equal((0.25, 0.5), (result.GetProperty("fraction_of_matmul_rate_batch1").GetDouble(), result.GetProperty("fraction_of_matmul_rate_batchN").GetDouble()));
    }

    [Fact]
    public void Interleaved_rounds_report_each_round_done_for_progress()
    {
        var done = new List<int>();
        TimingStats.MeasureInterleavedSelfTimed([() => 0.0, () => 0.0], warmup: 2, rounds: 3, untimedBefore: 1, afterRound: done.Add);
        Assert.Equal([0, 1, 2, 3, 4], done);
    }

    /// <summary>--threads 1 ran fused-parallel at cores / streams threads a stream and onnx-parallel with 3 inter-op threads
    /// beside 1 intra-op, while the header said 1 thread (bench audit): the rows share out the threads asked for, and a row
    /// that needs one thread per stream says its total.</summary>
    [Fact]
    public void The_stream_rows_keep_to_the_threads_asked_for_or_say_their_total()
    {
        using var folder = new ExportTempFolder();
        string config = folder.File("small.json");
        File.WriteAllText(config, (ParNet.Models.ModelRegistry.Get("parnet_cifar_small") with { Planes = [8, 16, 32], FinalWidth = 32, BlocksPerStream = [1, 1, 1] }).ToJson());
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = CommandRunner.Run(["bench", "--config", config, "--only", "fused-parallel,onnx-parallel,onnx-streams", "--threads", "1", "--rounds", "1",
            "--throughput-rounds", "1", "--warmup", "0", "--batch-size", "2", "--out", folder.File("out")], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        var notes = JsonDocument.Parse(File.ReadAllText(folder.File("out/bench.json"))).RootElement.GetProperty("results").EnumerateArray()
            .ToDictionary(r => r.GetProperty("key").GetString()!, r => r.GetProperty("note").GetString());
        Assert.Equal("3 streams on worker threads, 1 intra-op thread(s) each; 3 threads in all, more than the 1 asked for (one per stream at least)", notes["fused-parallel"]);
        Assert.Equal("ORT_PARALLEL, 1 inter-op thread(s) sharing 1 intra-op (the calling thread one of them)", notes["onnx-parallel"]);
        Assert.Equal("3 stream sessions at once, 1 intra-op thread(s) each; 3 threads in all, more than the 1 asked for (one per stream at least)", notes["onnx-streams"]);
    }

    /// <summary>--investigate's rows were timed alone after the interleaved rounds and printed unmarked beside them (the same
    /// ResNet-18 at 1 thread read 1.7x apart), and its 1-thread row repeated resnet18 at --threads 1 (bench audit): they take
    /// their turns in the same rounds, and the 1-thread row comes only where the run has more.</summary>
    [Theory]
    [InlineData("1", new[] { "fused", "resnet18-nograd", "resnet18-channels-last", "resnet18-channels-last-weights" })]
    [InlineData("2", new[] { "fused", "resnet18-nograd", "resnet18-channels-last", "resnet18-channels-last-weights", "resnet18-1thread" })]
    public void Investigation_rows_share_the_interleaved_rounds(string threads, string[] keys)
    {
        using var folder = new ExportTempFolder();
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = CommandRunner.Run(["bench", "--model", "parnet_cifar_small", "--only", "fused", "--investigate", "--threads", threads, "--rounds", "1",
            "--throughput-rounds", "1", "--warmup", "0", "--batch-size", "1", "--out", folder.File("out")], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        var json = JsonDocument.Parse(File.ReadAllText(folder.File("out/bench.json"))).RootElement;
        Assert.Equal(keys, json.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("key").GetString()));
        Assert.StartsWith($"the {keys.Length} rows were timed in interleaved rounds", json.GetProperty("notes")[0].GetString());
    }

    [Fact]
    public void Bench_times_weights_at_the_side_stored_with_them()
    {
        // the tiny network's natural side is 224; its weights say 64, as predict and export take it (bench timed 224)
        using var folder = new ExportTempFolder();
        var (weights, _) = ExportCliTests.WeightsWithSidecar(folder);
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = CommandRunner.Run(["bench", "--weights", weights, "--only", "fused", "--rounds", "1", "--throughput-rounds", "1", "--warmup", "0",
                                      "--batch-size", "1", "--out", folder.File("out")], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        Assert.Equal(64, JsonDocument.Parse(File.ReadAllText(folder.File("out/bench.json"))).RootElement.GetProperty("image_size").GetInt32());
    }

    [Theory]
    [InlineData("cuda:0,cuda:1,cuda:2", "TorchSharp-cuda-linux")]
    [InlineData("gpu0,cpu,cpu", "not a device")]
    public void Bench_refuses_stream_devices_it_cannot_use_before_timing_anything(string devices, string reason)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = CommandRunner.Run(["bench", "--stream-devices", devices], stdout, stderr);
        Assert.Equal(2, code);
        Assert.Contains(reason, stderr.ToString());
        Assert.DoesNotContain("timing", stderr.ToString());   // progress lines go to stderr
    }

    [Theory]
    [InlineData("fused,fused-devices", "the fused-devices row needs stream devices (InferenceBenchmarkOptions.StreamDevices = LIST)")]
    [InlineData("pytorch-fused", "the pytorch-* rows need the authors' code (PyTorchReferenceOptions.AuthorsCode = DIR)")]
    [InlineData("fused,no-such-row", "unknown variant(s) no-such-row")]
    public void Benchmark_refuses_rows_it_cannot_produce_before_timing_anything(string only, string reason)
    {
        AssertRefusedBeforeTiming(new InferenceBenchmarkOptions { Model = CifarSmall, Only = only.Split(',').ToHashSet() }, reason);
    }

    /// <summary>The same refusals from `parnet bench`, which names its options where the library names its settings.</summary>
    [Theory]
    [InlineData("fused,fused-devices", "parnet bench: the fused-devices row needs stream devices (--stream-devices LIST)\n")]
    [InlineData("pytorch-fused", "parnet bench: the pytorch-* rows need the authors' code (--pytorch-code DIR)\n")]
    public void Bench_refuses_rows_without_their_option_by_the_option(string only, string line)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        Assert.Equal(2, CommandRunner.Run(["bench", "--model", "parnet_cifar_small", "--only", only], stdout, stderr));
        Assert.Equal(line, stderr.ToString());
    }

    [Fact]
    public void Benchmark_refuses_a_stream_device_count_other_than_the_models_streams_and_an_empty_only_before_timing_anything()
    {
        // parnet_cifar_small has 3 streams: two devices threw from the executor's constructor, a stack trace
        AssertRefusedBeforeTiming(new InferenceBenchmarkOptions { Model = CifarSmall, StreamDevices = [TorchSharp.torch.CPU, TorchSharp.torch.CPU] },
            "has 3 streams; got 2 stream device(s)");
        AssertRefusedBeforeTiming(new InferenceBenchmarkOptions { Model = CifarSmall, Only = new HashSet<string>() }, "no variant chosen");
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        Assert.Equal(2, CommandRunner.Run(["bench", "--model", "parnet_cifar_small", "--only", ",", "--out", "/nonexistent-walkE/out"], stdout, stderr));
        Assert.Contains("no variant chosen", stderr.ToString());
    }

    [Theory]
    [InlineData(30, false, "multiples of 8")]
    [InlineData(32, true, "only the ImageNet layout")]
    public void Benchmark_refuses_settings_the_model_cannot_run_before_timing_anything(int imageSize, bool authorsCode, string reason)
    {
        AssertRefusedBeforeTiming(new InferenceBenchmarkOptions
        {
            Model = CifarSmall, ImageSize = imageSize,
            PyTorch = authorsCode ? new PyTorchReferenceOptions { AuthorsCode = "/nonexistent" } : null,
        }, reason);
    }

    [Fact]
    public void Benchmark_refuses_fused_weights_before_timing_anything()
    {
        using var folder = new ParNet.Tests.Data.TempDirectory();
        string weights = folder.File("fused.safetensors");
        using (var trained = ParNet.Tests.Models.OfficialParityTests.TrainedTinyModel())
        using (var fused = ParNet.Fusion.ParNetFuser.Fuse(trained))
            ParNet.Weights.StateDict.Save(fused, weights);
        var timed = new List<string>();
        var options = new InferenceBenchmarkOptions
        {
            Model = ParNet.Tests.Models.OfficialParityTests.TinyConfig, Weights = weights, ImageSize = 64, Log = timed.Add,
        };
        var e = Assert.Throws<InvalidDataException>(() => InferenceBenchmark.Run(options, "test"));
        Assert.Contains("fused weights", e.Message);
        Assert.Empty(timed);
    }

    static ParNet.Models.ModelConfig CifarSmall => ParNet.Models.ModelRegistry.Get("parnet_cifar_small");

    /// <summary>Run refuses the options with <paramref name="reason"/> before it logs (times) any row.</summary>
    static void AssertRefusedBeforeTiming(InferenceBenchmarkOptions options, string reason)
    {
        var timed = new List<string>();
        var e = Assert.ThrowsAny<ArgumentException>(() => InferenceBenchmark.Run(options with { Log = timed.Add }, "test"));
        Assert.Contains(reason, e.Message);
        Assert.Empty(timed);
    }

    /// <summary>Validate said "batch, rounds, throughput rounds and threads must be >= 1, warm-up >= 0" whichever it was, naming
    /// no setting; now one refusal per setting, by its API name (the CLI words it with its option, OptionNames).</summary>
    [Theory]
    [InlineData("Batch", "InferenceBenchmarkOptions.Batch = 0: must be >= 1", "--batch-size 0: must be >= 1")]
    [InlineData("Rounds", "InferenceBenchmarkOptions.Rounds = 0: must be >= 1", "--rounds 0: must be >= 1")]
    [InlineData("ThroughputRounds", "InferenceBenchmarkOptions.ThroughputRounds = 0: must be >= 1", "--throughput-rounds 0: must be >= 1")]
    [InlineData("Threads", "InferenceBenchmarkOptions.Threads = 0: must be >= 1", "--threads 0: must be >= 1")]
    [InlineData("Warmup", "InferenceBenchmarkOptions.Warmup = -1: must be >= 0", "--warmup -1: must be >= 0")]
    public void A_count_out_of_range_is_refused_naming_its_setting(string member, string message, string worded)
    {
        var o = new InferenceBenchmarkOptions { Model = ParNet.Models.ModelRegistry.Get("parnet_s") };
        o = member switch
        {
            "Batch" => o with { Batch = 0 }, "Rounds" => o with { Rounds = 0 }, "ThroughputRounds" => o with { ThroughputRounds = 0 },
            "Threads" => o with { Threads = 0 }, _ => o with { Warmup = -1 },
        };
        var e = Assert.Throws<ParNet.Runtime.InvalidSettingException>(o.Validate);
        Assert.Equal((message, "InferenceBenchmarkOptions." + member), (e.Message, e.ParamName));
        Assert.Equal(worded, ParNet.Cli.OptionNames.Worded(e));
    }
}
