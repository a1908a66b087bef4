using System.Text.Json;
using ParNet.Benchmarking;
using ParNet.Cli;
using ParNet.Export;
using ParNet.Export.Quantization;
using ParNet.Fusion;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Tests.Export;

namespace ParNet.Tests.Benchmarking;

/// <summary>The int8 rows of `parnet bench` (no timing is asserted: the machine is shared).</summary>
public class Int8BenchmarkTests
{
    static readonly ModelConfig Small = ModelRegistry.Get("parnet_cifar_small") with { Planes = [8, 16, 32], FinalWidth = 32, BlocksPerStream = [1, 1, 1] };

    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = CommandRunner.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    static string Int8File(ExportTempFolder folder, ModelConfig config, int size)
    {
        using var trained = ModelFactory.Create(config);
        using var fused = ParNetFuser.Fuse(trained);
        fused.eval();
        string path = folder.File($"{config.Name}-{size}.int8.onnx");
        Int8Exporter.Export(fused, path, size, Int8Exporter.NoiseImages(config, size, 2), new Int8Options { CalibrationImages = 2 });
        return path;
    }

    [Fact]
    public void Bench_times_its_own_int8_model_and_an_int8_file_beside_float32()
    {
        using var folder = new ExportTempFolder();
        string config = folder.File("small.json");
        File.WriteAllText(config, Small.ToJson());
        var (code, _, stderr) = Run("bench", "--config", config, "--only", "onnx-sequential,onnx-int8,onnx-file", "--onnx-model", Int8File(folder, Small, 32),
            "--rounds", "1", "--throughput-rounds", "1", "--warmup", "0", "--batch", "2", "--out", folder.File("out"));
        Assert.True(code == 0, stderr);
        var results = JsonDocument.Parse(File.ReadAllText(folder.File("out/bench.json"))).RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(["onnx-sequential", "onnx-int8", "onnx-file"], results.Select(r => r.GetProperty("key").GetString()));
        Assert.Contains("int8 QDQ", results[2].GetProperty("note").GetString());      // the file's own quantization note
        Assert.Equal(results[1].GetProperty("gflop_per_image").GetDouble(), results[0].GetProperty("gflop_per_image").GetDouble());
    }

    [Fact]
    public void Bench_refuses_an_onnx_model_of_another_size_or_a_missing_one_before_timing_anything()
    {
        using var folder = new ExportTempFolder();
        string config = folder.File("small.json");
        File.WriteAllText(config, Small.ToJson());
        string larger = Int8File(folder, Small, 64), other = Int8File(folder, Small with { Name = "parnet_other" }, 32);
        var (code, stdout, stderr) = Run("bench", "--config", config, "--onnx-model", larger);
        Assert.Equal(2, code);
        Assert.Equal($"parnet bench: --onnx-model {larger}: exported for 64x64; the benchmark runs 32 (give --image-size 64)\n", stderr);   // no progress line: nothing timed

        (code, _, stderr) = Run("bench", "--config", config, "--onnx-model", other);
        Assert.Equal(2, code);
        Assert.Equal($"parnet bench: --onnx-model {other}: a parnet_other model; the benchmark's model is parnet_cifar_small (give --model or --config for it)\n", stderr);

        (code, _, stderr) = Run("bench", "--config", config, "--only", "onnx-file");
        Assert.Equal(2, code);
        Assert.Equal("parnet bench: the onnx-file row needs an exported model (--onnx-model FILE)\n", stderr);

        // the library names its options' properties, which a program sets, not the command's options
        var options = new InferenceBenchmarkOptions { Model = Small, ImageSize = 32 };
        Assert.Equal($"InferenceBenchmarkOptions.OnnxModel = {larger}: exported for 64x64; the benchmark runs 32 (give InferenceBenchmarkOptions.ImageSize = 64)",
            Assert.Throws<InvalidSettingException>((options with { OnnxModel = larger }).Validate).Message);
        Assert.Equal($"InferenceBenchmarkOptions.OnnxModel = {other}: a parnet_other model; the benchmark's model is parnet_cifar_small " +
                     "(give InferenceBenchmarkOptions.Model for it)",
            Assert.Throws<InvalidSettingException>((options with { OnnxModel = other }).Validate).Message);
        Assert.Equal("the onnx-file row needs an exported model (InferenceBenchmarkOptions.OnnxModel = FILE)",
            Assert.Throws<InvalidSettingException>((options with { Only = new HashSet<string> { "onnx-file" } }).Validate).Message);

        (code, _, stderr) = Run("bench", "--config", config, "--onnx-model", folder.File("missing.onnx"));
        Assert.Equal(2, code);
        Assert.Contains("no such file", stderr);
    }
}
