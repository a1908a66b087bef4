using System.Text.Json;
using System.Text.Json.Nodes;
using ParNet.Cli;
using ParNet.Models;
using ParNet.Tests.Fusion;
using ParNet.Tests.Models;
using SkiaSharp;
using TorchSharp.PyBridge;

namespace ParNet.Tests.Cli;

/// <summary>
/// Every command reads a representative option written as `--name value` and as `--name=value` (System.CommandLine
/// parses both); the old hand-written parser refused `train --data DIR` with a space because it read the value twice.
/// </summary>
public class OptionSyntaxTests
{
    /// <summary>`--name value` or `--name=value`.</summary>
    static string[] Opt(bool equals, string name, string value) => equals ? [$"{name}={value}"] : [name, value];

    static string[] Args(params IEnumerable<string>[] parts) => parts.SelectMany(p => p).ToArray();

    static string TinyConfig(TempFolder folder)
    {
        string path = folder.File("tiny.json");
        File.WriteAllText(path, OfficialParityTests.TinyConfig.ToJson());
        return path;
    }

    [Theory, InlineData(false), InlineData(true)]
    public void Info_reads_image_size(bool equals)
    {
        var (code, stdout, stderr) = CliRunner.Run(Args(["info"], Opt(equals, "--model", "parnet_s"), Opt(equals, "--image-size", "320")));
        Assert.True(code == 0, stderr);
        Assert.Contains("combine          [1280, 10, 10]", stdout);   // 320 / 32
    }

    [Theory, InlineData(false), InlineData(true)]
    public void Forward_reads_weights_input_and_output(bool equals)
    {
        using var folder = new TempFolder();
        string io = Fixtures.Path("parnet_official_tiny_silu.io.safetensors"), output = folder.File("y.safetensors");
        var (code, _, stderr) = CliRunner.Run(Args(["forward"], Opt(equals, "--config", TinyConfig(folder)),
            Opt(equals, "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors")), Opt(equals, "--input", io), Opt(equals, "--output", output)));
        Assert.True(code == 0, stderr);
        Assert.True(OfficialParityTests.RelativeL2(Safetensors.LoadStateDict(output)["logits"], Safetensors.LoadStateDict(io)["logits"]) <= 1e-5);
    }

    [Theory, InlineData(false), InlineData(true)]
    public void Fuse_reads_out(bool equals)
    {
        using var folder = new TempFolder();
        string output = folder.File("fused.safetensors");
        var (code, stdout, stderr) = CliRunner.Run(Args(["fuse"], Opt(equals, "--config", TinyConfig(folder)),
            Opt(equals, "--weights", Fixtures.Path("parnet_official_tiny_silu.pt")), Opt(equals, "--out", output)));
        Assert.True(code == 0, stderr);
        Assert.True(File.Exists(output));
        Assert.Contains(output, stdout);
    }

    [Theory, InlineData(false), InlineData(true)]
    public void Export_reads_image_size(bool equals)
    {
        using var folder = new TempFolder();
        var (code, stdout, stderr) = CliRunner.Run(Args(["export"], Opt(equals, "--config", TinyConfig(folder)),
            Opt(equals, "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors")), Opt(equals, "--out", folder.File("m.onnx")),
            Opt(equals, "--image-size", "96")));
        Assert.True(code == 0, stderr);
        Assert.Contains("3x96x96", stdout);
    }

    [Theory, InlineData(false), InlineData(true)]
    public void Predict_reads_top(bool equals)
    {
        using var folder = new TempFolder();
        string image = folder.File("grey.png");
        using (var bitmap = new SKBitmap(64, 64))
        {
            bitmap.Erase(new SKColor(90, 120, 150));
            using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(image, data.ToArray());
        }
        var (code, stdout, stderr) = CliRunner.Run(Args(["predict"], Opt(equals, "--config", TinyConfig(folder)),
            Opt(equals, "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors")), Opt(equals, "--top", "3"), ["--json", image]));
        Assert.True(code == 0, stderr);
        Assert.Equal(3, JsonDocument.Parse(stdout).RootElement[0].GetProperty("top").GetArrayLength());
    }

    [Theory, InlineData(false), InlineData(true)]
    public void Bench_reads_stream_devices(bool equals)
    {
        // a device list bench refuses before timing anything: the refusal quotes the value it read
        var (code, _, stderr) = CliRunner.Run(Args(["bench"], Opt(equals, "--stream-devices", "gpu0,cpu,cpu")));
        CliRunner.AssertUserError((code, "", stderr), "'gpu0' is not a device");
    }

    [Theory, InlineData(false), InlineData(true)]
    public void Train_reads_data_and_dataset(bool equals)
    {
        // --data is used twice (model classes, then the loaders); the data set is opened before anything trains,
        // so the refusal names the DIR that reached the loader (the old parser failed here with "--data needs a value")
        var (code, _, stderr) = CliRunner.Run(Args(["train"], Opt(equals, "--dataset", "fashion-mnist"), Opt(equals, "--data", "/no/such/parnet-fm")));
        CliRunner.AssertUserError((code, "", stderr), "--data /no/such/parnet-fm: no Fashion-MNIST IDX files");
        var folder = CliRunner.Run(Args(["train"], Opt(equals, "--dataset", "folder"), Opt(equals, "--data", "/no/such/parnet-data")));
        CliRunner.AssertUserError(folder, "/no/such/parnet-data/train: image folder not found");
    }

    [Theory, InlineData(false), InlineData(true)]
    public void Eval_with_weights_reads_data(bool equals)
    {
        var (code, _, stderr) = CliRunner.Run(Args(["eval"], Opt(equals, "--weights", "/no/such/w.safetensors"), Opt(equals, "--model", "parnet_cifar_small"),
            Opt(equals, "--dataset", "cifar10"), Opt(equals, "--data", "/no/such/parnet-cifar")));
        CliRunner.AssertUserError((code, "", stderr), "/no/such/parnet-cifar/test_batch.bin not found");
    }

    [Theory, InlineData(false), InlineData(true)]
    public void Train_bench_reads_batch_size(bool equals)
    {
        var (code, stdout, stderr) = CliRunner.Run(Args(["train-bench"], Opt(equals, "--width", "4"), Opt(equals, "--batch-size", "2"),
            Opt(equals, "--steps", "1")));
        Assert.True(code == 0, stderr);
        Assert.Contains("32x32 batch 2 fp32 channels_last", stdout);
    }

    /// <summary>A value each option type parses: what matters is that both forms give the same one.</summary>
    static string SampleValue(System.CommandLine.Option option) => option.ValueType switch
    {
        var t when t == typeof(bool) => "true",
        var t when t == typeof(int?) || t == typeof(int) => "3",
        var t when t == typeof(double?) || t == typeof(double) => "0.25",
        _ => "some value",
    };

    [Fact]
    public void Every_option_of_every_command_reads_the_same_value_in_both_forms()
    {
        var root = CommandRunner.CreateRoot(TextWriter.Null, TextWriter.Null);
        int checkedOptions = 0;
        foreach (var command in root.Subcommands)
            foreach (var option in command.Options.Where(o => o.Name.StartsWith("--") && o.Name != "--help" && o.Name != "--version"))
            {
                string value = SampleValue(option);
                var spaced = root.Parse([command.Name, option.Name, value]);
                var joined = root.Parse([command.Name, $"{option.Name}={value}"]);
                // a required option elsewhere in the command may be missing: only errors about this option count
                Assert.DoesNotContain(spaced.Errors, e => e.Message.Contains(option.Name));
                Assert.DoesNotContain(joined.Errors, e => e.Message.Contains(option.Name));
                string[]? a = spaced.GetResult(option)?.Tokens.Select(t => t.Value).ToArray(), b = joined.GetResult(option)?.Tokens.Select(t => t.Value).ToArray();
                Assert.True(a is [var only] && only == value && b is [var same] && same == value,
                    $"{command.Name} {option.Name}: [{string.Join(",", a ?? [])}] vs [{string.Join(",", b ?? [])}]");
                checkedOptions++;
            }
        Assert.True(checkedOptions > 100, $"only {checkedOptions} options found");
    }

    [Fact]
    public void A_missing_value_is_a_user_error()
    {
        CliRunner.AssertUserError(CliRunner.Run("train", "--data"), "parnet train: --data needs a value, DIR: ");
        CliRunner.AssertUserError(CliRunner.Run("info", "--model", "parnet_s", "--image-size", "big"), "--image-size must be an integer (got 'big')");
        // a number past int's range is not called "not an integer" (an export audit of session 48)
        CliRunner.AssertUserError(CliRunner.Run("info", "--model", "parnet_s", "--image-size", "99999999999"),
                                  "--image-size 99999999999: outside an integer's range (-2,147,483,648 to 2,147,483,647)");
    }

    /// <summary>More threads than the machine has cores ran without a word (walk F: `train-bench --threads 1000` on 2
    /// cores); libtorch's threads beyond the cores wait for each other. The warning, then the command goes on (here to
    /// its next refusal, so that nothing runs with those threads in the test host).</summary>
    [Fact]
    public void More_threads_than_cores_are_warned_about_and_the_command_goes_on()
    {
        int cores = Environment.ProcessorCount;
        var (code, _, err) = CliRunner.Run("bench", "--threads", $"{cores + 1}", "--warmup", "-1");
        Assert.Equal(2, code);
        Assert.Equal($"parnet bench: warning: --threads {cores + 1} is more than this machine's {cores} logical cores: threads beyond " +
                     "the cores wait for each other, which is slower, not faster\nparnet bench: --warmup -1: must be >= 0\n", err);
    }

    [Theory]
    [InlineData(2, 1, 2, null)]
    [InlineData(1, 2, 2, null)]
    [InlineData(3, 1, 2, "--threads 3 is more than this machine's 2 logical cores")]
    [InlineData(2, 2, 2, "--threads 2 in each of 2 processes is more than this machine's 2 logical cores")]
    [InlineData(int.MaxValue, 2, 64, "--threads 2147483647 in each of 2 processes is more than this machine's 64 logical cores")]
    public void Threads_beyond_the_cores_count_every_process_on_the_machine(int threads, int processes, int cores, string? start)
    {
        string? warning = CliOption.ThreadsBeyondCores(threads, processes, cores);
        if (start is null) Assert.Null(warning);
        else Assert.Equal(start + ": threads beyond the cores wait for each other, which is slower, not faster", warning);
    }

    /// <summary>Defaults the help left out or stated wrongly (walk J): bench's model; study's and export's data folder, which
    /// is looked for in data/fashion-mnist first, as train's is (they named only Debian's folder).</summary>
    [Theory]
    [InlineData("bench", "(default: the model stored with --weights, else parnet_s, the paper's headline model)")]
    [InlineData("study", "Fashion-MNIST's folder (default: data/fashion-mnist, then /usr/share/datasets/fashion-mnist,")]
    [InlineData("export", "else as train looks: for fashion-mnist data/fashion-mnist, then /usr/share/datasets/fashion-mnist)")]
    public void The_help_states_the_default_the_command_takes(string command, string statement)
    {
        var (code, stdout, _) = CliRunner.Run(command, "--help");
        Assert.Equal(0, code);
        Assert.Contains(statement, string.Join(" ", stdout.Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries)));   // help wraps lines
    }

    /// <summary>Without --threads, train and train-bench give each process its share of the cores, at least one thread:
    /// more processes than cores warned of "--threads 1 in each of 3 processes", an option the user had not typed.</summary>
    [Theory]
    [InlineData(1, 3, 2, "3 processes of 1 thread each on this machine's 2 logical cores: processes beyond the cores wait for each other, which is slower, not faster (start at most 2 here)")]
    [InlineData(1, 2, 2, null)]
    [InlineData(2, 1, 2, null)]
    public void A_default_thread_count_beyond_the_cores_names_the_processes(int threads, int processes, int cores, string? expected)
        => Assert.Equal(expected, CliOption.ThreadsBeyondCores(threads, processes, cores, CliOption.ThreadsSource.Default));

    [Fact]
    public void A_thread_count_kept_from_run_json_says_so()
        => Assert.Equal("--threads 3, kept from the resumed run's run.json, is more than this machine's 2 logical cores: threads beyond the cores " +
                        "wait for each other, which is slower, not faster", CliOption.ThreadsBeyondCores(3, 1, 2, CliOption.ThreadsSource.RunJson));

    /// <summary>A bad value of an option given by its older alias named the option's new name, which the user had not
    /// typed ("--size abc" was reported as "--image-size must be an integer").</summary>
    [Theory]
    [InlineData("eval", "--size", "abc")]
    [InlineData("eval", "--size=abc", null)]
    [InlineData("bench", "--batch", "two")]
    public void A_bad_value_is_reported_under_the_name_typed(string command, string option, string? value)
    {
        string typed = option.Split('=')[0], given = value ?? option.Split('=')[1];
        CliRunner.AssertUserError(value is null ? CliRunner.Run(command, option) : CliRunner.Run(command, option, value),
                                  $"{typed} must be an integer (got '{given}')");
    }

    /// <summary>double.Parse reads "nan" and "infinity"; they used to reach TimeSpan.FromMilliseconds and the like, which
    /// threw: an unhandled exception and exit code 134 in place of one line.</summary>
    [Theory]
    [InlineData("serve", "--max-wait-ms", "nan")]
    [InlineData("serve", "--timeout-ms", "infinity")]
    [InlineData("serve", "--max-megapixels", "NaN")]
    [InlineData("train", "--time-budget", "nan")]
    [InlineData("train", "--lr", "-Infinity")]
    public void A_number_that_is_not_finite_is_a_user_error(string command, string option, string value)
    {
        CliRunner.AssertUserError(CliRunner.Run(command, option, value), $"{option} must be a finite number (got '{value}')");
    }

    /// <summary>Finite but out of range: a budget of 1e300 minutes overflowed TimeSpan (a stack trace), a --max-megapixels
    /// under one pixel was refused as "max pixels must be >= 1; got 0", naming no option, and 1e300 wrapped to a negative count.</summary>
    [Theory]
    [InlineData("train", "--time-budget", "1e300", "--time-budget 1E+300: minutes, more than 0 and at most 10,000,000")]
    [InlineData("train", "--schedule-budget", "0", "--schedule-budget 0: minutes, more than 0 and at most 10,000,000")]
    [InlineData("train", "--collective-timeout", "0", "--collective-timeout 0: minutes, more than 0 and at most 10,000,000")]
    [InlineData("train", "--collective-timeout", "0.05", "--collective-timeout 0.05: at least 0.1 minutes (the wait is looked at once a second)")]
    // the range is ServingOptions.Validate's, worded by option (a tenth of a pixel is counted as the 0 pixels it holds); a
    // number no pixel count holds is the CLI's own refusal
    [InlineData("serve", "--max-megapixels", "0.0000001", "--max-megapixels 0: from 1 pixel to 536,870,897 pixels (just under 512 megapixels of 2^20, the most one decode can hold)")]
    [InlineData("serve", "--max-megapixels", "1e300", "--max-megapixels 1E+300: not a count of pixels; under 512 is taken")]
    [InlineData("serve", "--max-megapixels", "512", "--max-megapixels 512: from 1 pixel to 536,870,897 pixels (just under 512 megapixels of 2^20, the most one decode can hold)")]
    [InlineData("bench", "--rounds", "0", "--rounds 0: must be >= 1")]   // it said "batch, repeats, throughput repeats and threads must be >= 1"
    [InlineData("bench", "--repeats", "0", "--repeats 0: must be >= 1")]   // the older name, reported as typed (not as --rounds)
    [InlineData("bench", "--throughput-repeats", "0", "--throughput-repeats 0: must be >= 1")]
    [InlineData("bench", "--batch", "0", "--batch 0: must be >= 1")]
    [InlineData("bench", "--warmup", "-1", "--warmup -1: must be >= 0")]
    public void A_number_out_of_its_range_is_refused_naming_its_option(string command, string option, string value, string message)
    {
        CliRunner.AssertUserError(CliRunner.Run(command, option, value), message);
    }

    /// <summary>The help said "the first N of the training split, in file order" after the images became a seeded random
    /// choice (which `export` itself reports); the first N of an image folder are all of its first classes.</summary>
    [Fact]
    public void Export_help_says_how_the_calibration_images_are_chosen()
    {
        var (code, stdout, _) = CliRunner.Run("export", "--help");
        Assert.Equal(0, code);
        string help = string.Join(" ", stdout.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("required with --int8: the number of training images whose activation ranges set the scales, chosen at random (seed 0", help);
        Assert.DoesNotContain("in file order", help);
    }

    [Fact]
    public void Help_is_generated_from_the_declared_options()
    {
        var (code, stdout, _) = CliRunner.Run("train-bench", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--forward-only", stdout);   // read by the command, undocumented before
        Assert.DoesNotContain("  --channels <", stdout);   // a channel count, advertised before, read by nothing
        Assert.Contains("--channels-last", stdout);        // the layout, read since the benchmark moved to the library
        Assert.DoesNotContain("--classes", stdout);
        var eval = CliRunner.Run("eval", "--help");
        Assert.Contains("--recipe", eval.Out);
        var root = CliRunner.Run("--help");
        foreach (var command in new[] { "info", "forward", "train", "eval", "fuse", "convert", "export", "predict", "bench", "train-bench" })
            Assert.Contains($"  {command} ", root.Out);
    }

    [Fact]
    public void Only_user_input_errors_become_one_line()
    {
        Assert.True(CommandRunner.IsUserError(new UsageException("bad")));
        Assert.True(CommandRunner.IsUserError(new FileNotFoundException("gone")));
        Assert.True(CommandRunner.IsUserError(new InvalidDataException("malformed")));
        Assert.False(CommandRunner.IsUserError(new ArgumentException("a library bug")));   // keeps its stack trace
        Assert.False(CommandRunner.IsUserError(new InvalidOperationException("a library bug")));
    }

    [Fact]
    public void Config_property_names_load_in_any_case()
    {
        using var folder = new TempFolder();
        var json = JsonNode.Parse(ModelRegistry.Get("parnet_m").ToJson())!.AsObject();
        var lower = new JsonObject();
        foreach (var (key, value) in json) lower[key.ToLowerInvariant()] = value?.DeepClone();
        string path = folder.File("lower.json");
        File.WriteAllText(path, lower.ToJsonString());
        Assert.Contains("\"planes\"", File.ReadAllText(path));

        var (code, stdout, stderr) = CliRunner.Run("info", "--config", path, "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal(38_953_256, JsonDocument.Parse(stdout).RootElement.GetProperty("parameters").GetInt64());   // spec, ParNet-M
    }
}
