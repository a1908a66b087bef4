using ParNet.Benchmarking;
using ParNet.Models;
using ParNet.Tests.Export;
using ParNet.Training;

namespace ParNet.Tests.Benchmarking;

/// <summary>
/// The plumbing of train-bench's PyTorch row, with a stand-in for Python (a shell script that records its arguments and
/// prints what the real script prints). CI has neither PyTorch nor the authors' code; the real run is in RESULTS.md.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]   // the stand-in for Python is a shell script
public class PyTorchTrainingReferenceTests
{
    static readonly ModelConfig FashionMnistModel = ModelRegistry.Get("parnet_cifar_small") with
    {
        Planes = [16, 32, 64], FinalWidth = 64, InChannels = 1, NumClasses = 10, HeadDropout = 0, BlockDropout = 0,
    };

    static string FakePython(ExportTempFolder folder, string json)
    {
        string path = folder.File("python");
        File.WriteAllText(path, $"#!/bin/sh\nbasename \"$1\" > {folder.File("script.txt")}\necho run >> {folder.File("runs.txt")}\n" +
                                $"shift; echo \"$@\" > {folder.File("args.txt")}\necho '{json}'\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    const string Timings = "\"torch\": \"1.13.1\", \"threads\": 2, \"forward_s\": [0.1, 0.3], \"backward_s\": [0.2, 0.2], \"update_s\": [0.05, 0.15]";

    [Fact]
    public void Passes_our_network_and_setting_and_averages_the_raw_step_timings()
    {
        using var folder = new ExportTempFolder();
        string python = FakePython(folder, "{" + Timings + ", \"parameters\": 349978}");
        var options = new TrainingBenchmarkOptions { Model = FashionMnistModel, Batch = 64, Steps = 2, Warmup = 1 };

        var outcome = PyTorchTrainingReference.Run(new PyTorchReferenceOptions { AuthorsCode = "/authors", Python = python }, options, 2, 349978);

        Assert.Equal("pytorch_train_reference.py", File.ReadAllText(folder.File("script.txt")).Trim());
        string passed = File.ReadAllText(folder.File("args.txt"));
        Assert.Contains("--code /authors --planes 16,32,64 --blocks 3,4,4 --final-width 64 --in-channels 1 --classes 10 --activation silu --sse true", passed);
        Assert.Contains("--image-size 32 --batch 64 --steps 2 --warmup 1 --threads 2 --channels-last true", passed);
        // 2 steps of 64 images in 0.1+0.3 + 0.2+0.2 + 0.05+0.15 = 1.0 s
        Assert.Equal(128, outcome.Result.ImagesPerSecond, 6);
        Assert.Equal((200.0, 200.0, 100.0), (Math.Round(outcome.Result.ForwardMs, 6), Math.Round(outcome.Result.BackwardMs, 6), Math.Round(outcome.Result.UpdateMs, 6)));
        Assert.Equal(("1.13.1", 2, 349978L), (outcome.TorchVersion, outcome.Threads, outcome.Parameters));
    }

    [Fact]
    public void Rounds_alternate_who_goes_first_and_the_median_of_their_ratios_is_quoted()
    {
        using var folder = new ExportTempFolder();
        string python = FakePython(folder, "{" + Timings + ", \"parameters\": 349978}");   // 2 steps of 4 images in 1 s: 8 images/s every time
        var options = new TrainingBenchmarkOptions { Model = FashionMnistModel, Batch = 4, Steps = 1, Warmup = 0 };

        var rounds = PyTorchTrainingReference.Compare(new PyTorchReferenceOptions { AuthorsCode = "/authors", Python = python }, options, 1, 3);

        Assert.Equal([(1, true), (2, false), (3, true)], rounds.Select(r => (r.Index, r.OursFirst)));
        Assert.Equal(3, File.ReadAllLines(folder.File("runs.txt")).Length);   // the authors' script once a round
        Assert.All(rounds, r => Assert.Equal(r.Ours.ImagesPerSecond / 8, r.Ratio, 9));
        var ratios = rounds.Select(r => r.Ratio).Order().ToArray();
        Assert.Equal(ratios[1], PyTorchTrainingReference.MedianRatio(rounds));
        Assert.Throws<ArgumentException>(() => PyTorchTrainingReference.Compare(new PyTorchReferenceOptions { AuthorsCode = "/a", Python = python }, options, 1, 0));
    }

    [Fact]
    public void Rounds_without_the_authors_code_are_refused()
    {
        ParNet.Tests.Cli.CliRunner.AssertUserError(ParNet.Tests.Cli.CliRunner.Run("train-bench", "--rounds", "3", "--steps", "1"),
                                                   "--rounds goes with --pytorch-code");
    }

    [Fact]
    public void A_peer_network_of_another_size_gives_no_ratio()
    {
        using var folder = new ExportTempFolder();
        string python = FakePython(folder, "{" + Timings + ", \"parameters\": 350000}");
        var e = Assert.Throws<InvalidOperationException>(() => PyTorchTrainingReference.Run(
            new PyTorchReferenceOptions { AuthorsCode = "/authors", Python = python }, new TrainingBenchmarkOptions { Model = FashionMnistModel }, 2, 349978));
        Assert.Contains("350,000 parameters, ours 349,978", e.Message);
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
    public void Networks_the_script_cannot_build_are_refused_before_anything_runs()
    {
        Assert.Null(PyTorchTrainingReference.WhyUnsupported(FashionMnistModel));
        Assert.Contains("CIFAR layout", PyTorchTrainingReference.WhyUnsupported(ModelRegistry.Get("parnet_s")));
        Assert.Contains("no dropout", PyTorchTrainingReference.WhyUnsupported(FashionMnistModel with { BlockDropout = 0.2 }));
        var e = Assert.Throws<ArgumentException>(() => PyTorchTrainingReference.Run(new PyTorchReferenceOptions { AuthorsCode = "/x", Python = "/bin/true" },
            new TrainingBenchmarkOptions { Model = FashionMnistModel, BFloat16 = true }, 2, 1));
        Assert.Contains("float32", e.Message);
    }
}
