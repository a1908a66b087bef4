using ParNet.Benchmarking;
using ParNet.Models;
using ParNet.Tests.Export;
using ParNet.Training;

namespace ParNet.Tests.Benchmarking;

/// <summary>
/// The plumbing of train-bench's PyTorch rounds, with a stand-in for Python (a shell script that records its arguments
/// and commands and answers as bench/pytorch/pytorch_train_reference.py --serve does). CI has neither PyTorch nor the
/// authors' code; the real runs are in RESULTS.md.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]   // the stand-in for Python is a shell script
public class PyTorchTrainingReferenceTests
{
    static readonly ModelConfig FashionMnistModel = ModelRegistry.Get("parnet_cifar_small") with
    {
        Planes = [16, 32, 64], FinalWidth = 64, InChannels = 1, NumClasses = 10, HeadDropout = 0, BlockDropout = 0,
    };

    /// <summary>2 steps: forward 0.1 + 0.3, backward 0.2 + 0.2, update 0.05 + 0.15 s, 1.0 s in all.</summary>
    const string TwoSteps = """{"forward_s": [0.1, 0.3], "backward_s": [0.2, 0.2], "update_s": [0.05, 0.15]}""";

    /// <summary>Their bf16 autocast steps: 2 steps in 2.0 s (forward 0.5 + 0.5, backward 0.4 + 0.4, update 0.1 + 0.1).</summary>
    const string TwoSlowerSteps = """{"forward_s": [0.5, 0.5], "backward_s": [0.4, 0.4], "update_s": [0.1, 0.1]}""";

    static string ServingPython(ExportTempFolder folder, long parameters = 349978, string answer = TwoSteps, string bf16Answer = TwoSlowerSteps)
    {
        string path = folder.File("python");
        File.WriteAllText(path, $$$"""
            #!/bin/sh
            basename "$1" > {{{folder.File("script.txt")}}}
            shift; echo "$@" > {{{folder.File("args.txt")}}}
            echo '{"torch": "1.13.1", "threads": 2, "parameters": {{{parameters}}}}'
            while read cmd rest; do
              echo "$cmd $rest" >> {{{folder.File("commands.txt")}}}
              case "$cmd" in
                quit) exit 0 ;;
                steps) case "$rest" in *bf16) echo '{{{bf16Answer}}}' ;; *) echo '{{{answer}}}' ;; esac ;;
              esac
            done

            """);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    static readonly TrainingBenchmarkOptions TwoStepsOf4 = new() { Model = FashionMnistModel, Batch = 4, Steps = 2, Warmup = 0 };

    [Fact]
    public void Rounds_pass_our_network_alternate_who_goes_first_and_average_the_childs_raw_step_timings()
    {
        using var folder = new ExportTempFolder();
        var rounds = PyTorchTrainingReference.Compare(new PyTorchReferenceOptions { AuthorsCode = "/authors", Python = ServingPython(folder) }, TwoStepsOf4, 1, 3);

        Assert.Equal("pytorch_train_reference.py", File.ReadAllText(folder.File("script.txt")).Trim());
        string passed = File.ReadAllText(folder.File("args.txt"));
        Assert.Contains("--serve --code /authors --planes 16,32,64 --blocks 3,4,4 --final-width 64 --in-channels 1 --classes 10 --activation silu --sse true", passed);
        Assert.EndsWith("--image-size 32 --batch 4 --steps 2 --warmup 0 --threads 1 --channels-last true", passed.Trim());   // no --bf16
        Assert.Equal(["steps 2 fp32", "steps 2 fp32", "steps 2 fp32", "quit "], File.ReadAllLines(folder.File("commands.txt")));   // one child for all rounds

        Assert.Equal([(1, true), (2, false), (3, true)], rounds.Select(r => (r.Index, r.OursFirst)));
        var theirs = rounds[0].Theirs;
        Assert.Equal(8, theirs.Result.ImagesPerSecond, 9);   // 2 steps of 4 images in 1.0 s
        Assert.Equal((200.0, 200.0, 100.0), (Math.Round(theirs.Result.ForwardMs, 6), Math.Round(theirs.Result.BackwardMs, 6), Math.Round(theirs.Result.UpdateMs, 6)));
        Assert.Equal(("1.13.1", 2, 349978L), (theirs.TorchVersion, theirs.Threads, theirs.Parameters));
        Assert.All(rounds, r => Assert.Equal(r.Ours.ImagesPerSecond / 8, r.Ratio, 9));
        Assert.All(rounds, r => Assert.Null(r.TheirsFloat32));
        Assert.All(rounds, r => Assert.Equal(r.Ratio, r.RatioToTheirFastest));
    }

    [Fact]
    public void With_bf16_their_autocast_and_their_float32_steps_are_timed_each_round_and_the_faster_one_is_the_peer()
    {
        using var folder = new ExportTempFolder();
        var rounds = PyTorchTrainingReference.Compare(new PyTorchReferenceOptions { AuthorsCode = "/authors", Python = ServingPython(folder) },
                                                      TwoStepsOf4 with { BFloat16 = true }, 1, 2);

        Assert.EndsWith("--channels-last true --bf16", File.ReadAllText(folder.File("args.txt")).Trim());
        // their precisions take turns as the sides do: float32 first in round 1 (ours first), bf16 first in round 2
        Assert.Equal(["steps 2 fp32", "steps 2 bf16", "steps 2 bf16", "steps 2 fp32", "quit "], File.ReadAllLines(folder.File("commands.txt")));
        Assert.All(rounds, r =>
        {
            Assert.Equal(4, r.Theirs.Result.ImagesPerSecond, 9);   // autocast: 8 images in 2.0 s
            Assert.Equal(8, r.TheirsFloat32!.ImagesPerSecond, 9);  // float32: 8 images in 1.0 s, their faster precision here
            Assert.Equal(r.Ours.ImagesPerSecond / 4, r.Ratio, 9);
            Assert.Equal(r.Ours.ImagesPerSecond / 8, r.RatioToTheirFastest, 9);
        });
    }

    [Fact]
    public void A_peer_network_of_another_size_gives_no_ratio()
    {
        using var folder = new ExportTempFolder();
        var e = Assert.Throws<InvalidOperationException>(() => PyTorchTrainingReference.Compare(
            new PyTorchReferenceOptions { AuthorsCode = "/authors", Python = ServingPython(folder, parameters: 350000) }, TwoStepsOf4, 1, 1));
        Assert.Contains("350,000 parameters, ours 349,978", e.Message);
    }

    [Fact]
    public void A_child_answering_the_wrong_number_of_steps_fails_the_run_naming_it()
    {
        using var folder = new ExportTempFolder();
        string oneStep = """{"forward_s": [0.1], "backward_s": [0.2], "update_s": [0.05]}""";
        var e = Assert.Throws<PyTorchReferenceFailedException>(() => PyTorchTrainingReference.Compare(
            new PyTorchReferenceOptions { AuthorsCode = "/authors", Python = ServingPython(folder, answer: oneStep) }, TwoStepsOf4, 1, 1));
        Assert.Contains("1 / 1 / 1 forward / backward / update timings for 2 steps", e.Message);
    }

    [Fact]
    public void Our_train_bench_model_has_the_parameter_count_the_peer_is_checked_against()
    {
        // 349,978: what the same network assembled from the authors' released blocks counts on PyTorch 1.13
        // (bench/pytorch/pytorch_train_reference.py, RESULTS.md); the recipe's width is the one this config spells out
        Assert.Equal(16, Recipes.FashionMnist.Width);
        var r = TrainingBenchmark.Run(new TrainingBenchmarkOptions { Model = FashionMnistModel, Batch = 2, Steps = 1, Warmup = 0 });
        Assert.Equal(349978, r.Parameters);
    }

    [Fact]
    public void Networks_and_settings_the_script_cannot_time_are_refused_before_anything_runs()
    {
        Assert.Null(PyTorchTrainingReference.WhyUnsupported(FashionMnistModel));
        Assert.Contains("CIFAR layout", PyTorchTrainingReference.WhyUnsupported(ModelRegistry.Get("parnet_s")));
        Assert.Contains("no dropout", PyTorchTrainingReference.WhyUnsupported(FashionMnistModel with { BlockDropout = 0.2 }));
        var e = Assert.Throws<ParNet.Runtime.InvalidSettingException>(() => PyTorchTrainingReference.Compare(new PyTorchReferenceOptions { AuthorsCode = "/x", Python = "/bin/true" },
            new TrainingBenchmarkOptions { Model = FashionMnistModel, ForwardOnly = true }, 2, 1));
        Assert.Equal("PyTorch reference: it times training steps (not with TrainingBenchmarkOptions.ForwardOnly)", e.Message);
        Assert.Equal("PyTorch reference: it needs the authors' code (PyTorchReferenceOptions.AuthorsCode = DIR)",
            Assert.Throws<ParNet.Runtime.InvalidSettingException>(() => PyTorchTrainingReference.Compare(new PyTorchReferenceOptions { Python = "/bin/true" },
                new TrainingBenchmarkOptions { Model = FashionMnistModel }, 2, 1)).Message);
        Assert.Throws<ArgumentException>(() => PyTorchTrainingReference.Compare(new PyTorchReferenceOptions { AuthorsCode = "/x", Python = "/bin/true" },
            new TrainingBenchmarkOptions { Model = FashionMnistModel }, 2, 0));
    }

    [Fact]
    public void Rounds_without_the_authors_code_are_refused()
    {
        ParNet.Tests.Cli.CliRunner.AssertUserError(ParNet.Tests.Cli.CliRunner.Run("train-bench", "--rounds", "3", "--steps", "1"),
                                                   "--rounds goes with --pytorch-code");
    }

    /// <summary>train-bench wrote only text, and scripts/cpu-frontier.sh scraped a line printed only with more than one round
    /// (bench audit): --out writes train-bench.json with each round's rates and ratios, their median and the conditions.</summary>
    [Fact]
    public void Train_bench_writes_its_rounds_and_their_median_ratio_as_json()
    {
        using var folder = new ExportTempFolder();
        Directory.CreateDirectory(folder.File("code/simplenet_impl"));   // what the check looks for in a checkout of the authors' code
        File.WriteAllText(folder.File("code/simplenet_impl/simpnet.py"), "");
        var result = ParNet.Tests.Cli.CliRunner.Run("train-bench", "--steps", "2", "--batch-size", "4", "--threads", "1", "--rounds", "3",
                                                    "--pytorch-code", folder.File("code"), "--python", ServingPython(folder), "--out", folder.File("out"));
        Assert.True(result.Code == 0, result.Err);
        var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(folder.File("out/train-bench.json"))).RootElement;
        var rounds = json.GetProperty("rounds").EnumerateArray().ToList();
        Assert.Equal([true, false, true], rounds.Select(r => r.GetProperty("ours_first").GetBoolean()));
        // their 2 steps of 4 images in 1.0 s (TwoSteps): 8 images/s, and each ratio is ours over that
        Assert.All(rounds, r => Assert.Equal(8.0, r.GetProperty("theirs").GetProperty("images_per_second").GetDouble(), 9));
        var ratios = rounds.Select(r => r.GetProperty("ours").GetProperty("images_per_second").GetDouble() / 8).Order().ToList();
        Assert.Equal(ratios, rounds.Select(r => r.GetProperty("ratio").GetDouble()).Order().ToList());
        var ratio = json.GetProperty("ratio");
        Assert.Equal((ratios[1], ratios[0], ratios[2], 3),
                     (ratio.GetProperty("median").GetDouble(), ratio.GetProperty("min").GetDouble(), ratio.GetProperty("max").GetDouble(), ratio.GetProperty("rounds").GetInt32()));
        Assert.Equal("1.13.1", json.GetProperty("pytorch").GetProperty("torch").GetString());
        Assert.StartsWith("parnet train-bench ", json.GetProperty("command").GetString());
        Assert.Matches(@"^[0-9.]+ [0-9.]+ [0-9.]+ ", json.GetProperty("load_average_before").GetString());
        Assert.Equal(1, json.GetProperty("threads").GetInt32());
        Assert.Contains($"wrote {folder.File("out/train-bench.json")}", result.Out);
    }
}
