using ParNet.Models;
using System.Text.Json;
using ParNet.Tests.Models;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ParNet.Tests.Cli;

public class InfoAndForwardCommandTests
{
    [Fact]
    public void Info_json_reports_what_the_model_computes()
    {
        var (code, stdout, _) = CliRunner.Run("info", "--model", "parnet_m", "--json");
        Assert.Equal(0, code);
        var json = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(38_953_256, json.GetProperty("parameters").GetInt64());   // spec, training form
        Assert.Equal(12, json.GetProperty("depth").GetInt32());
        var fused = json.GetProperty("fused");
        Assert.Equal(35_576_616, fused.GetProperty("parameters").GetInt64());   // spec, fused
        Assert.Equal(17.16, fused.GetProperty("gflops").GetDouble(), 0.005);   // paper Table 2
        Assert.Equal(224, json.GetProperty("image_size").GetInt32());
        var head = json.GetProperty("stages").EnumerateArray().Last();
        Assert.Equal("head", head.GetProperty("stage").GetString());
    }

    [Fact]
    public void Version_of_the_program_is_the_library_version_the_package_carries()
    {
        // the real program, not in-process: --version reads the entry assembly, which in-process is the test host
        string parnet = typeof(ParNet.Cli.CommandRunner).Assembly.Location;
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("dotnet", [parnet, "--version"])
            { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string printed = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        var library = typeof(ModelRegistry).Assembly.GetName().Version!;
        Assert.Equal($"{library.Major}.{library.Minor}.{library.Build}", printed.Split('+')[0]);   // it printed the SDK's 1.0.0 beside 0.1.0
    }

    [Fact]
    public void Info_at_another_image_size_changes_the_stage_shapes()
    {
        var (code, stdout, _) = CliRunner.Run("info", "--model", "parnet_s", "--image-size", "320");
        Assert.Equal(0, code);
        Assert.Contains("combine          [1280, 10, 10]", stdout);   // 320 / 32
    }

    /// <summary>NCHW, and laid out channels_last as predict and serve's torch engines run it (the gates' pool takes
    /// another path there, session 35), unfused and fused: the authors' logits and fused logits.</summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Forward_reproduces_the_official_logits_through_files(bool channelsLast, bool fused)
    {
        string dir = Directory.CreateTempSubdirectory("parnet-forward-").FullName;
        try
        {
            string config = Path.Combine(dir, "tiny.json");
            File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());
            string output = Path.Combine(dir, "out.safetensors");
            string io = Fixtures.Path("parnet_official_tiny_silu.io.safetensors");
            var (code, _, err) = CliRunner.Run(["forward", "--config", config, "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors"),
                "--input", io, "--output", output, .. channelsLast ? ["--channels-last"] : Array.Empty<string>(), .. fused ? ["--fused"] : Array.Empty<string>()]);
            Assert.True(code == 0, err);
            var logits = Safetensors.LoadStateDict(output)["logits"];
            var expected = Safetensors.LoadStateDict(io)[fused ? "logits_fused" : "logits"];
            double error = OfficialParityTests.RelativeL2(logits, expected);
            Assert.True(error <= 1e-5, $"relative L2 error {error:E3}");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>A weights file given as --input by mistake: the error named every one of its 378 tensors (a 20 KB line).</summary>
    [Fact]
    public void Forward_on_a_file_of_many_tensors_says_how_many_in_a_short_line()
    {
        var result = CliRunner.Run("forward", "--config", Repository.Path("samples", "FineTune", "tiny_silu.model.json"),
            "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors"),
            "--input", Fixtures.Path("parnet_official_tiny_silu.safetensors"), "--output", Path.Combine(Path.GetTempPath(), "never-written.safetensors"));
        CliRunner.AssertUserError(result, "expected a tensor named 'input' or exactly one tensor; found 378 tensors (");
        Assert.True(result.Err.Length < 500, $"{result.Err.Length} characters: {result.Err[..200]}...");
    }

    [Fact]
    public void Unknown_model_is_one_clear_line()
    {
        CliRunner.AssertUserError(CliRunner.Run("info", "--model", "parnet_xxl"), "unknown model 'parnet_xxl'; known models: parnet_s,");
    }

    [Fact]
    public void Odd_image_size_is_one_clear_line()
    {
        CliRunner.AssertUserError(CliRunner.Run("info", "--model", "parnet_s", "--image-size", "225"),
            "parnet info: --image-size: parnet_s: image height and width must be positive multiples of 32 (every stride-2 block needs an even size); got 225x225");
    }

    [Fact]
    public void Unknown_option_and_unknown_command_are_rejected()
    {
        CliRunner.AssertUserError(CliRunner.Run("info", "--model", "parnet_s", "--imagesize", "224"), "unknown option: --imagesize");
        CliRunner.AssertUserError(CliRunner.Run("infoo"), "unknown command 'infoo'");
        // with --help it printed the root's help and exited 0, not a word of the command
        CliRunner.AssertUserError(CliRunner.Run("evaluate", "--help"), "unknown command 'evaluate'");
        // predict's IMAGE takes any word: an option it does not have (eval's --size) was taken as two images "not found", exit 1
        var predict = CliRunner.Run("predict", "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors"), "--size", "64", "a.png");
        CliRunner.AssertUserError(predict, "parnet predict: unknown option: --size (see --help)");
        Assert.Equal("", predict.Out);
        // System.CommandLine said "Required argument missing for option: '--ema'.", as if the option were missing
        CliRunner.AssertUserError(CliRunner.Run("train", "--ema"), "parnet train: --ema needs a value, DECAY: EMA decay of the weights (0: off;");
        CliRunner.AssertUserError(CliRunner.Run("eval", "--batch-size"), "parnet eval: --batch-size needs a value, N: images per batch");
    }

    /// <summary>predict takes --threads as serve, eval and bench do (it was refused as unknown, help audit, session 39); the
    /// answer does not depend on it.</summary>
    [Fact]
    public void Predict_takes_threads_and_answers_the_same()
    {
        using var dir = new ParNet.Tests.Data.TempDirectory();
        string image = dir.File("a.png"), weights = Fixtures.Path("parnet_official_tiny_silu.safetensors"), config = dir.File("tiny.json");
        File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());
        File.WriteAllBytes(image, ParNet.Tests.Data.TempDirectory.EncodeImage(64, 64, (x, y) => ((byte)(x * 4), (byte)(y * 4), 90), SkiaSharp.SKEncodedImageFormat.Png));
        try
        {
            var all = CliRunner.Run("predict", "--weights", weights, "--config", config, "--image-size", "64", "--json", image);
            var one = CliRunner.Run("predict", "--weights", weights, "--config", config, "--image-size", "64", "--json", "--threads", "1", image);
            Assert.True(all.Code == 0, all.Err);
            Assert.True(one.Code == 0, one.Err);
            var (topAll, topOne) = (JsonDocument.Parse(all.Out).RootElement[0].GetProperty("top"), JsonDocument.Parse(one.Out).RootElement[0].GetProperty("top"));
            Assert.Equal(5, topAll.GetArrayLength());
            Assert.Equal(topAll.GetArrayLength(), topOne.GetArrayLength());
            for (int k = 0; k < topAll.GetArrayLength(); k++)   // every answer, not only the first class: within float32's threading noise
            {
                Assert.Equal(topAll[k].GetProperty("class").GetInt32(), topOne[k].GetProperty("class").GetInt32());
                Assert.Equal(topAll[k].GetProperty("probability").GetDouble(), topOne[k].GetProperty("probability").GetDouble(), 1e-5);
            }
            CliRunner.AssertUserError(CliRunner.Run("predict", "--weights", weights, "--threads", "0", image), "parnet predict: --threads 0: must be >= 1");
        }
        finally { set_num_threads(Environment.ProcessorCount); }   // the process's default again, for the tests after this one
    }

    [Fact]
    public void Missing_weights_file_is_one_clear_line()
    {
        CliRunner.AssertUserError(CliRunner.Run("forward", "--model", "parnet_s", "--weights", "/nonexistent/w.safetensors",
            "--input", "/nonexistent/x.safetensors", "--output", "/tmp/y.safetensors"), "weights file not found: /nonexistent/w.safetensors");
    }

    [Fact]
    public void Wrong_channel_count_is_one_clear_line()
    {
        string dir = Directory.CreateTempSubdirectory("parnet-forward-").FullName;
        try
        {
            string input = Path.Combine(dir, "grey.safetensors");
            Safetensors.SaveStateDict(input, new Dictionary<string, Tensor> { ["input"] = zeros(1, 1, 64, 64) });
            string config = Path.Combine(dir, "tiny.json");
            File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());
            CliRunner.AssertUserError(CliRunner.Run("forward", "--config", config, "--weights",
                Fixtures.Path("parnet_official_tiny_silu.safetensors"), "--input", input, "--output", Path.Combine(dir, "o.safetensors")),
                "expects 3 input channel(s); got 1");
            // pixels as integers, not the normalized floats the network takes: refused (they were cast without a word)
            string pixels = Path.Combine(dir, "pixels.safetensors"), image = Path.Combine(dir, "x.png");
            Safetensors.SaveStateDict(pixels, new Dictionary<string, Tensor> { ["input"] = zeros(1, 3, 64, 64, dtype: ScalarType.Byte) });
            CliRunner.AssertUserError(CliRunner.Run("forward", "--config", config, "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors"),
                "--input", pixels, "--out", Path.Combine(dir, "o.safetensors")), $"{pixels}: the input tensor is Byte; forward takes floating-point [N, C, H, W]");
            // an image given as --input is named as the input, not as weights
            File.WriteAllText(image, "png");
            CliRunner.AssertUserError(CliRunner.Run("forward", "--config", config, "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors"),
                "--input", image, "--out", Path.Combine(dir, "o.safetensors")), $"{image}: unknown format '.png' for input tensor");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Malformed_config_file_is_one_clear_line()
    {
        string path = Path.Combine(Path.GetTempPath(), $"parnet-bad-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{ "Planes": [16, 32], "FinalWidth": 64, "BlocksPerStream": [1, 1, 1] }""");
        try { CliRunner.AssertUserError(CliRunner.Run("info", "--config", path), "BlocksPerStream must have one entry per stream (2)"); }
        finally { File.Delete(path); }
    }
}
