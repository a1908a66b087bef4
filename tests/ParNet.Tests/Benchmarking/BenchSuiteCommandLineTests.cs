using System.CommandLine;
using ParNet.Bench;

namespace ParNet.Tests.Benchmarking;

/// <summary>
/// The benchmark suites' command lines, parsed but never run (timings live in the suites, not in tests): a validator
/// that reads an option the user left out must not throw (ddb909c's onnx-cuda validator did, and nothing in CI ran it),
/// and onnx-cuda's own checks say what is wrong.
/// </summary>
public class BenchSuiteCommandLineTests
{
    static IEnumerable<Command> Suites() => typeof(IBenchmark).Assembly.GetTypes()
        .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
        .Select(t => ((IBenchmark)Activator.CreateInstance(t)!).Build());

    [Fact]
    public void Every_suite_validates_its_defaults_without_throwing()
    {
        var names = new List<string>();
        foreach (var suite in Suites())
        {
            // the suites' required options: onnx-cuda's graphs, train-steps' authors' code
            var parse = suite.Parse(suite.Name switch { "onnx-cuda" => ["--graphs", "g"], "train-steps" => ["--pytorch-code", "DIR"], _ => [] });
            Assert.True(parse.Errors.Count == 0, $"{suite.Name}: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
            names.Add(suite.Name);
        }
        Assert.Contains("onnx-cuda", names);
        Assert.Contains("winograd", names);
        Assert.Contains("train-steps", names);
    }

    /// <summary>int8's rounds time each model twice, a cold run and a warm one (its table has a row for each); its --runs
    /// said one run of each model a round.</summary>
    [Fact]
    public void Int8_rounds_help_says_what_a_round_times()
    {
        var rounds = Suites().Single(s => s.Name == "int8").Options.Single(o => o.Name == "--rounds");
        Assert.Contains("a cold and a warm run", rounds.Description);
        Assert.DoesNotContain("one float32 and one int8 run", rounds.Description);
    }

    /// <summary>Timed interleaved rounds are --rounds in every suite that has them, as in bench and train-bench (they were
    /// --runs here, --repeats in bench); --runs stays as an alias, so RESULTS.md's recorded commands still run.</summary>
    [Theory]
    [InlineData("fusion")]
    [InlineData("int8")]
    [InlineData("winograd")]
    [InlineData("onnx-cuda")]
    public void Interleaved_rounds_are_called_rounds_in_every_suite(string suite)
    {
        var command = Suites().Single(s => s.Name == suite);
        Assert.Contains("--runs", command.Options.Single(o => o.Name == "--rounds").Aliases);
        // a bad count is reported under the name typed ("--runs 0" was refused as "--rounds must be ...")
        string[] required = suite == "onnx-cuda" ? ["--graphs", "g"] : [];
        Assert.Equal(["--runs must be an integer >= 1"], command.Parse([.. required, "--runs", "0"]).Errors.Select(e => e.Message));
        Assert.Equal(["--rounds must be an integer >= 1"], command.Parse([.. required, "--rounds", "0"]).Errors.Select(e => e.Message));
    }

    /// <summary>The loader suite's Fashion-MNIST rows name the transform the recipe trains with: they said "crop (shift 2)"
    /// while the recipe had no random shift (CropPadding 0, `--padding 0`) since 2026-12-03.</summary>
    [Fact]
    public void Loader_rows_name_the_recipes_shift()
    {
        Assert.Equal(0, ParNet.Training.Recipes.FashionMnist.CropPadding);
        Assert.Equal("pad to 32 + no shift + flip + normalize", LoaderBenchmark.FashionTransform(ParNet.Training.Recipes.FashionMnist.Augmentation()));
        Assert.Equal("pad to 32 + crop (shift 2) + flip + normalize",
            LoaderBenchmark.FashionTransform(new ParNet.Data.AugmentationSettings { CropPadding = 2 }));
    }

    [Theory]
    [InlineData("--rows cuda-devices", "--gpus N with N >= 2")]
    [InlineData("--rows cpu,gpu", "unknown gpu")]
    [InlineData("--rows cuda --gpus 0", "--gpus must be an integer >= 1")]
    public void Onnx_cuda_refuses_what_it_cannot_run(string arguments, string message)
    {
        var suite = Suites().Single(s => s.Name == "onnx-cuda");
        var parse = suite.Parse(["--graphs", "g", .. arguments.Split(' ')]);
        Assert.Contains(parse.Errors, e => e.Message.Contains(message));
        Assert.Empty(suite.Parse(["--graphs", "g", "--rows", "cuda-devices", "--gpus", "3"]).Errors);
    }
}
