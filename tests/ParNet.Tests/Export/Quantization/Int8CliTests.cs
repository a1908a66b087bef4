using System.Text.Json;
using SkiaSharp;
using ParNet.Cli;
using ParNet.Inference;

namespace ParNet.Tests.Export.Quantization;

/// <summary>`parnet export --int8` end to end, and `parnet predict` on its output.</summary>
public class Int8CliTests
{
    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = CommandRunner.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>An image folder DIR/train/CLASS/*.png of seeded smooth colour patterns (the calibration images).</summary>
    static string CalibrationFolder(ExportTempFolder folder, int perClass)
    {
        string root = folder.File("images");
        var random = new Random(5);
        foreach (var label in new[] { "a", "b" })
        {
            string dir = Path.Combine(root, "train", label);
            Directory.CreateDirectory(dir);
            for (int i = 0; i < perClass; i++)
            {
                int fx = random.Next(1, 6), fy = random.Next(1, 6), phase = random.Next(256);
                ExportCliTests.WritePng(Path.Combine(dir, $"{i}.png"), 64,
                    (x, y) => new SKColor((byte)(x * fx + phase), (byte)(y * fy + phase / 2), (byte)((x + y) * (fx + fy))));
            }
        }
        return root;
    }

    static List<(int Class, double Probability)> Top(string json) =>
        JsonDocument.Parse(json).RootElement[0].GetProperty("top").EnumerateArray()
            .Select(t => (t.GetProperty("class").GetInt32(), t.GetProperty("probability").GetDouble())).ToList();

    [Fact]
    public void Export_int8_writes_a_quantized_model_that_predict_runs_like_the_float_one()
    {
        using var folder = new ExportTempFolder();
        var (weights, names) = ExportCliTests.WeightsWithSidecar(folder);
        string images = CalibrationFolder(folder, 4), int8 = folder.File("tiny.int8.onnx"), fp32 = folder.File("tiny.onnx");

        var (code, stdout, stderr) = Run("export", "--weights", weights, "--int8", "--calibration", "6", "--data", images, "--out", int8);
        Assert.True(code == 0, stderr);
        Assert.Contains("int8 QDQ calibrated on 6 imagenet training images", stdout);
        (code, _, stderr) = Run("export", "--weights", weights, "--fused", "--out", fp32);
        Assert.True(code == 0, stderr);

        using (var engine = new OnnxRuntimeEngine(int8))
        {
            Assert.Contains("over 6 calibration images", engine.Quantization);
            Assert.True(engine.Info.Fused);
            Assert.Equal(names, engine.Info.ClassNames);
        }
        // the 3x3 convs' weights shrink 4x; the gates and the 1000-class head stay float32
        long bytesInt8 = new FileInfo(int8).Length, bytesFp32 = new FileInfo(fp32).Length;
        Assert.True(bytesInt8 < bytesFp32 * 3 / 4, $"int8 {bytesInt8} bytes, float32 {bytesFp32}");

        string image = Path.Combine(images, "train", "a", "0.png");
        var (codeInt8, outInt8, errInt8) = Run("predict", "--weights", int8, "--json", image);
        var (codeFp32, outFp32, _) = Run("predict", "--weights", fp32, "--json", image);
        Assert.True(codeInt8 == 0 && codeFp32 == 0, errInt8);
        var (top8, top32) = (Top(outInt8), Top(outFp32));
        Assert.Equal(top32[0].Class, top8[0].Class);
        Assert.Equal(top32[0].Probability, top8[0].Probability, 0.02);
        Assert.NotEqual(top32[0].Probability, top8[0].Probability);   // it did run the quantized model
    }

    [Theory]
    [InlineData("--int8 needs --calibration N: the number of training images to calibrate the activations on", "--int8")]
    [InlineData("--calibration 0: must be >= 1 (images)", "--int8", "--calibration", "0")]
    [InlineData("--threads 0: must be >= 1", "--int8", "--calibration", "8", "--threads", "0")]
    [InlineData("--calibration, --data, --quantize-gates and --quantize-head go with --int8", "--calibration", "8")]
    [InlineData("--calibration, --data, --quantize-gates and --quantize-head go with --int8", "--quantize-gates")]
    [InlineData("--int8: no data set is stored with the weights; give --dataset NAME (and --data DIR) for the calibration images",
                "--int8", "--calibration", "8")]   // a random initialization knows no data set
    [InlineData("--int8 calibration: the cifar10 data set needs a data directory (--data DIR)",
                "--int8", "--calibration", "8", "--dataset", "cifar10")]   // CIFAR has no standard place
    public void Bad_int8_options_give_one_line_and_exit_code_2(string expected, params string[] options)
    {
        using var folder = new ExportTempFolder();
        var (code, stdout, stderr) = Run(["export", "--model", "parnet_cifar_small", "--out", folder.File("m.onnx"), .. options]);
        Assert.Equal(CommandRunner.UsageExitCode, code);
        // besides the error, at most the warning that the weights are a random initialization
        string error = Assert.Single(stderr.Trim().Split('\n'), l => !l.StartsWith("parnet export: warning: no --weights; using a random initialization", StringComparison.Ordinal));
        Assert.Equal($"parnet export: {expected}", error);
        Assert.Equal("", stdout);
        Assert.False(File.Exists(folder.File("m.onnx")));
    }

    [Fact]
    public void A_folder_runs_checkpoint_calibrates_on_the_runs_own_images_without_data()
    {
        using var folder = new ExportTempFolder();
        string images = CalibrationFolder(folder, 3);
        foreach (var label in new[] { "a", "b" })   // training evaluates on val/
        {
            Directory.CreateDirectory(Path.Combine(images, "val", label));
            File.Copy(Path.Combine(images, "train", label, "0.png"), Path.Combine(images, "val", label, "0.png"));
        }
        string run = folder.File("run");
        var trained = Run("train", "--dataset", "folder", "--data", images, "--width", "8", "--epochs", "1", "--out", run);
        Assert.True(trained.Code == 0, trained.Err);
        string weights = Path.Combine(run, "checkpoints", "last", "model.safetensors");

        var (code, stdout, stderr) = Run("export", "--weights", weights, "--int8", "--calibration", "5", "--out", folder.File("m.int8.onnx"));
        Assert.True(code == 0, stderr);
        Assert.Contains("int8 QDQ calibrated on 5 folder training images", stdout);
        // and the file says where they came from, not only how many (an export audit of session 48)
        Onnx.ModelProto graph;
        using (var file = File.OpenRead(folder.File("m.int8.onnx"))) graph = Onnx.ModelProto.Parser.ParseFrom(file);
        var source = JsonDocument.Parse(graph.MetadataProps.Single(p => p.Key == "parnet.int8_calibration").Value).RootElement;
        Assert.Equal(5, source.GetProperty("images").GetInt32());
        Assert.Equal("folder", source.GetProperty("dataset").GetString());
        Assert.Equal(Path.GetFullPath(images), source.GetProperty("data_dir").GetString());
        Assert.Equal(JsonValueKind.Null, source.GetProperty("classes").ValueKind);
        Assert.Equal(0, source.GetProperty("seed").GetInt32());
        // eval of the int8 file says it scored an int8 graph: it was recorded and named as its float32 file (README walk, session 48)
        var scored = Run("eval", "--weights", folder.File("m.int8.onnx"), "--dataset", "folder", "--data", images, "--threads", "1", "--out", folder.File("eval"));
        Assert.True(scored.Code == 0, scored.Err);
        var subject = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder.File("eval"), "summary.json"))).RootElement.GetProperty("Scored");
        Assert.StartsWith("int8 QDQ: ", subject.GetProperty("Quantization").GetString());
        Assert.Equal("-fused-int8", new ParNet.Training.EvalReportFolder { Fused = true, Int8 = true }.Suffix);
        // the run's data has 6 training images: more is refused, which shows they are the ones read
        (code, _, stderr) = Run("export", "--weights", weights, "--int8", "--calibration", "7", "--out", folder.File("m2.int8.onnx"));
        Assert.Equal(CommandRunner.UsageExitCode, code);
        Assert.Contains("--int8 calibration: 7 calibration images asked for: the folder training split has 6 images", stderr);
    }

    [Fact]
    public void More_calibration_images_than_the_data_has_is_a_usage_error()
    {
        using var folder = new ExportTempFolder();
        var (weights, _) = ExportCliTests.WeightsWithSidecar(folder);
        var (code, _, stderr) = Run("export", "--weights", weights, "--int8", "--calibration", "50", "--data", CalibrationFolder(folder, 2), "--out", folder.File("m.onnx"));
        Assert.Equal(CommandRunner.UsageExitCode, code);
        Assert.Contains("--int8 calibration: 50 calibration images asked for: the imagenet training split has 4 images", stderr);
    }

    [Fact]
    public void Calibration_images_of_other_channels_than_the_models_are_refused_in_one_line()
    {
        // a grey (Fashion-MNIST) model calibrated on an RGB image folder: ONNX Runtime's "Got: 3 Expected: 1" and a stack trace
        using var folder = new ExportTempFolder();
        string grey = folder.File("grey.json");
        File.WriteAllText(grey, (ParNet.Models.ModelRegistry.Get("parnet_cifar_small") with { InChannels = 1 }).ToJson());
        var (code, _, stderr) = Run("export", "--config", grey, "--int8", "--calibration", "2", "--dataset", "folder",
                                    "--data", CalibrationFolder(folder, 2), "--out", folder.File("grey.onnx"));
        Assert.Equal(CommandRunner.UsageExitCode, code);
        Assert.Contains("--int8 calibration: the folder training split has 3-channel images; parnet_cifar_small takes 1", stderr);
        Assert.False(File.Exists(folder.File("grey.onnx")));
        // MNIST, which --dataset lists (its names and statistics), has no reader for calibration images: said so, not "unknown"
        (code, _, stderr) = Run("export", "--config", grey, "--int8", "--calibration", "2", "--dataset", "mnist", "--out", folder.File("grey.onnx"));
        Assert.Equal(CommandRunner.UsageExitCode, code);
        Assert.Contains("--int8 calibration: no reader for mnist's images here (its class names and statistics are known, for predict, serve and export)", stderr);
    }
}
