using System.Text.Json;
using SkiaSharp;
using ParNet.Cli;
using ParNet.Data;
using ParNet.Export;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Tests.Cli;
using ParNet.Tests.Data;
using ParNet.Tests.Models;
using ParNet.Weights;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ParNet.Tests.Export;

/// <summary>`parnet export` and `parnet predict` end to end.</summary>
public class ExportCliTests
{
    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = CommandRunner.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    static string TinyConfigFile(ExportTempFolder folder)
    {
        string path = folder.File("tiny.json");
        File.WriteAllText(path, OfficialParityTests.TinyConfig.ToJson());
        return path;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Export_writes_onnx_that_reproduces_the_authors_logits(bool fused)
    {
        using var folder = new ExportTempFolder();
        string output = folder.File("tiny.onnx");
        var args = new List<string> { "export", "--config", TinyConfigFile(folder), "--weights", Fixtures.Path("parnet_official_tiny_silu.pt"),
                                      "--out", output, "--image-size", "64", "--format", "onnx" };
        args.Add(fused ? "--fused" : "--unfused");   // fused is also the default (Predict_and_export_fuse_a_parnet_by_default_...)
        var (code, stdout, stderr) = Run(args.ToArray());
        Assert.True(code == 0, stderr);
        Assert.Contains(fused ? "fused" : "training form", stdout);

        using var engine = new OnnxRuntimeEngine(output);
        var io = Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"));
        double err = ExportTestSupport.RelativeL2(engine.Run(io["input"]), io["logits"]);
        Assert.True(err <= 1e-4, $"relative L2 {err:E3}");
        Assert.Equal(fused, engine.Info.Fused);
        Assert.Null(engine.Info.ClassNames);   // weights without a data set: "class N" placeholders are not stored as names
        Assert.Equal(1000, engine.Info.CompletedFor(engine.Info.Model!).ClassNames!.Count);
    }

    [Theory]
    [InlineData("--format tflite: not supported; the only export format is onnx",
                "export", "--model", "parnet_s", "--weights", "w.safetensors", "--out", "m.onnx", "--format", "tflite")]
    [InlineData("Option '--out' is required.", "export", "--model", "parnet_s", "--weights", "w.safetensors")]
    [InlineData("without --weights, give --model NAME or --config FILE.json (the model to initialize randomly)", "export", "--out", "m.onnx")]
    [InlineData("--out needs a value, M.onnx: the ONNX file to write", "export", "--model", "parnet_s", "--weights", "w.safetensors", "--out")]
    [InlineData("weights file not found: /no/such.safetensors", "export", "--model", "parnet_s", "--weights", "/no/such.safetensors", "--out", "m.onnx")]
    [InlineData("missing IMAGE: JPEG, PNG, WebP, BMP or GIF files; an unreadable one is reported and the others still run (exit code 1). RGB models resize the short side to --image-size/0.875 (bicubic) and centre-crop; Fashion-MNIST/MNIST models take the image in grey at 28x28 (white object on black, like the data set), padded as in training", "predict", "--model", "parnet_s", "--weights", "w.safetensors")]   // no image
    [InlineData("--engine tensorrt: use torch, torch-winograd, onnxruntime, onnxruntime-cuda",
                "predict", "--model", "parnet_s", "--weights", "w.safetensors", "--engine", "tensorrt", "a.png")]
    [InlineData("weights file not found: /no/such.safetensors", "predict", "--model", "parnet_s", "--weights", "/no/such.safetensors", "a.png")]
    [InlineData("unknown variant(s) warp-drive; known: unfused, fused, fused-channels-last, fused-winograd, fused-parallel, fused-devices, " +
                "fused-bf16, onnx-sequential, onnx-parallel, onnx-streams, onnx-int8, onnx-file, onnx-cuda, onnx-cuda-graph, onnx-cuda-streams, " +
                "resnet18, resnet34, resnet50, pytorch-unfused, pytorch-fused, pytorch-resnet18, pytorch-resnet34, pytorch-resnet50",
                "bench", "--only", "unfused,warp-drive")]
    [InlineData("--rounds 0: must be >= 1", "bench", "--rounds", "0")]
    public void Bad_arguments_exit_2_with_one_line(string message, params string[] args)
    {
        var result = Run(args);
        CliRunner.AssertUserError(result, "");
        Assert.Equal($"parnet {args[0]}: {message}", result.Err.TrimEnd('\n'));
    }

    [Fact]
    public void Export_without_a_stored_configuration_asks_for_one()
    {
        string weights = Fixtures.Path("parnet_official_tiny_silu.safetensors");
        var result = Run("export", "--weights", weights, "--out", "/tmp/x.onnx");
        CliRunner.AssertUserError(result, "");
        Assert.Equal($"parnet export: {weights}: no model configuration stored with these weights; give --model NAME or --config FILE " +
                     "(the parnet_official_tiny_silu.json beside them names no model: a sidecar holds a configuration, or \"model\" with one)",
                     result.Err.TrimEnd('\n'));
    }

    [Fact]
    public void Export_writes_through_a_symbolic_link_and_refuses_a_fifo_in_one_line()
    {
        using var dir = new TempDirectory();
        string config = dir.File("tiny.json");
        File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());
        string[] Export(string output) =>
            ["export", "--config", config, "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors"), "--out", output, "--image-size", "64"];

        string fifo = dir.Fifo("fifo.onnx");
        CliRunner.AssertUserError(CliRunner.Run(Export(fifo)), $"parnet export: {fifo} is a FIFO, not a regular file; not replaced");
        Assert.Equal("fifo", TempDirectory.FileKind(fifo));

        string target = dir.File("deployed.onnx"), link = dir.File("link.onnx");
        File.WriteAllText(target, "an older export");
        File.CreateSymbolicLink(link, target);
        var (code, stdout, stderr) = Run(Export(link));
        Assert.True(code == 0, stderr);
        Assert.Equal("symbolic link", TempDirectory.FileKind(link));
        Assert.Contains($"to {link} ({new FileInfo(target).Length / 1e6:F1} MB)", stdout);
        using var engine = new OnnxRuntimeEngine(target);
        Assert.True(engine.Info.Fused);
        Assert.Equal(["deployed.onnx", "fifo.onnx", "link.onnx", "tiny.json"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Export_refuses_an_output_that_is_one_of_its_inputs_or_not_an_onnx_name()
    {
        // `--out` on the weights replaced them with the graph (exit 0): the trained weights were gone
        using var dir = new TempDirectory();
        string config = dir.File("tiny.json"), weights = dir.File("w.safetensors"), link = dir.File("w.onnx");
        File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());
        File.Copy(Fixtures.Path("parnet_official_tiny_silu.safetensors"), weights);
        File.CreateSymbolicLink(link, weights);
        byte[] before = File.ReadAllBytes(weights);
        CliRunner.AssertUserError(CliRunner.Run("export", "--config", config, "--weights", weights, "--out", weights),
            $"parnet export: --out must be an .onnx file; got '{weights}'");
        CliRunner.AssertUserError(CliRunner.Run("export", "--config", config, "--weights", weights, "--out", link),
            $"parnet export: --out {link} is the --weights file, which writing it would replace; give another path");
        File.CreateSymbolicLink(dir.File("c.onnx"), config);
        CliRunner.AssertUserError(CliRunner.Run("export", "--config", config, "--weights", weights, "--out", dir.File("c.onnx")), "is the --config file");
        Assert.Equal(before, File.ReadAllBytes(weights));
        Assert.Equal(OfficialParityTests.TinyConfig.ToJson(), File.ReadAllText(config));
    }

    [Fact]
    public void Export_without_weights_writes_a_seeded_random_model_and_warns()
    {
        using var folder = new ExportTempFolder();
        string first = folder.File("random1.onnx"), second = folder.File("random2.onnx");
        var (code, stdout, stderr) = Run("export", "--config", TinyConfigFile(folder), "--out", first, "--image-size", "64");
        Assert.True(code == 0, stderr);
        Assert.Contains("warning: no --weights", stderr);
        Assert.Contains("random initialization", stderr);
        Assert.Contains("3x64x64", stdout);
        Assert.Equal(0, Run("export", "--config", TinyConfigFile(folder), "--out", second, "--image-size", "64").Code);

        // a real model: ONNX Runtime runs it on the fixture's input; seeded: a second export computes the same logits
        var io = Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"));
        using var one = new OnnxRuntimeEngine(first);
        using var two = new OnnxRuntimeEngine(second);
        var logits = one.Run(io["input"]);
        Assert.Equal(io["logits"].shape, logits.shape);
        Assert.True(ExportTestSupport.RelativeL2(two.Run(io["input"]), logits) <= 1e-6);
        Assert.True(one.Info.Fused);   // a ParNet is exported fused unless --unfused
    }

    internal static void WritePng(string path, int size, Func<int, int, SKColor> pixel)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) bitmap.SetPixel(x, y, pixel(x, y));
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    static SKColor Pattern(int x, int y) => new((byte)(x * 4), (byte)(y * 4), (byte)((x * y) % 256));

    /// <summary>Our own copy of the fixture weights with a sidecar naming the classes (predict reads it).</summary>
    internal static (string Weights, string[] Names) WeightsWithSidecar(ExportTempFolder folder)
    {
        string weights = folder.File("tiny.safetensors");
        File.Copy(Fixtures.Path("parnet_official_tiny_silu.safetensors"), weights);
        var names = Enumerable.Range(0, 1000).Select(i => $"label-{i}").ToArray();
        new DeploymentInfo { Model = OfficialParityTests.TinyConfig, ClassNames = names, Dataset = "imagenet", ImageSize = 64 }.WriteSidecar(weights);
        return (weights, names);
    }

    [Fact]
    public void Predict_reports_top5_from_the_sidecar_and_keeps_going_past_unreadable_files()
    {
        using var folder = new ExportTempFolder();
        var (weights, names) = WeightsWithSidecar(folder);
        string good = folder.File("good.png"), broken = folder.File("broken.png"), missing = folder.File("missing.png");
        WritePng(good, 64, Pattern);
        File.WriteAllBytes(broken, [1, 2, 3, 4, 5, 6, 7, 8]);

        var (code, stdout, stderr) = Run("predict", "--weights", weights, "--json", good, broken, missing);
        Assert.Equal(1, code);
        var results = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(3, results.GetArrayLength());
        var top = results[0].GetProperty("top").EnumerateArray().ToList();
        Assert.Equal(5, top.Count);
        var probs = top.Select(t => t.GetProperty("probability").GetDouble()).ToList();
        Assert.Equal(probs.OrderByDescending(p => p), probs);
        Assert.All(top, t => Assert.Equal(names[t.GetProperty("class").GetInt32()], t.GetProperty("name").GetString()));
        Assert.Equal($"{broken}: not a decodable image (unknown format or corrupt header)", results[1].GetProperty("error").GetString());
        Assert.Equal($"{missing}: not found", results[2].GetProperty("error").GetString());   // was .NET's "unreadable (Could not find file ...)"

        // the image is exactly 64x64: used as is, ImageNet-normalized; the probabilities are the model's on that tensor
        using var model = new ParNetModel(OfficialParityTests.TinyConfig);
        StateDict.Load(model, weights);
        model.eval();
        var input = ExpectedRgbInput(64, Pattern, DatasetInfo.ImageNetMean, DatasetInfo.ImageNetStd);
        using var noGrad = no_grad();
        var expected = nn.functional.softmax(model.call(input), 1)[0];
        foreach (var t in top)
            Assert.Equal(expected[t.GetProperty("class").GetInt32()].item<float>(), t.GetProperty("probability").GetDouble(), 5);
    }

    /// <summary>predict's help named JPEG/PNG/WebP only; a BMP (as image folders take) gives what the same pixels as a PNG give.</summary>
    [Fact]
    public void Predict_reads_a_bmp_as_the_same_pixels_in_a_png()
    {
        using var folder = new ExportTempFolder();
        var (weights, _) = WeightsWithSidecar(folder);
        string png = folder.File("a.png"), bmp = folder.File("a.bmp");
        WritePng(png, 64, Pattern);
        WriteBmp(bmp, 64, Pattern);
        var (code, stdout, stderr) = Run("predict", "--weights", weights, "--json", png, bmp);
        Assert.True(code == 0, stderr);
        var results = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(results[0].GetProperty("top").ToString(), results[1].GetProperty("top").ToString());
    }

    /// <summary>A 24-bit uncompressed BMP written by hand (SkiaSharp encodes no BMP): rows bottom-up, BGR, padded to 4 bytes.</summary>
    static void WriteBmp(string path, int size, Func<int, int, SKColor> pixel)
    {
        int row = (size * 3 + 3) / 4 * 4, pixels = row * size;
        using var writer = new BinaryWriter(File.Create(path));
        writer.Write((byte)'B'); writer.Write((byte)'M'); writer.Write(54 + pixels); writer.Write(0); writer.Write(54);
        writer.Write(40); writer.Write(size); writer.Write(size); writer.Write((short)1); writer.Write((short)24);
        writer.Write(0); writer.Write(pixels); writer.Write(2835); writer.Write(2835); writer.Write(0); writer.Write(0);
        for (int y = size - 1; y >= 0; y--)
        {
            for (int x = 0; x < size; x++) { var c = pixel(x, y); writer.Write(c.Blue); writer.Write(c.Green); writer.Write(c.Red); }
            for (int p = size * 3; p < row; p++) writer.Write((byte)0);
        }
    }

    /// <summary>Weights with no class names are labelled "class N": the text output said "class 473 (473)" (walk D, session 28).</summary>
    [Fact]
    public void Predict_text_gives_a_class_its_index_once()
    {
        using var folder = new ExportTempFolder();
        string weights = folder.File("w.safetensors"), image = folder.File("good.png");
        File.Copy(Fixtures.Path("parnet_official_tiny_silu.safetensors"), weights);
        new DeploymentInfo { Model = OfficialParityTests.TinyConfig }.WriteSidecar(weights);
        WritePng(image, 64, Pattern);
        var (code, stdout, stderr) = Run("predict", "--weights", weights, "--top", "3", image);
        Assert.True(code == 0, stderr);
        var rows = stdout.Split('\n').Where(l => l.StartsWith("  ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, rows.Count);
        Assert.All(rows, r => Assert.Matches(@"^  \d\. +\d+\.\d\d %  class \d+$", r));
    }

    static Tensor ExpectedRgbInput(int size, Func<int, int, SKColor> pixel, float[] mean, float[] std)
    {
        var data = new float[3 * size * size];
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                var c = pixel(x, y);
                byte[] rgb = [c.Red, c.Green, c.Blue];
                for (int ch = 0; ch < 3; ch++) data[(ch * size + y) * size + x] = (rgb[ch] / 255f - mean[ch]) / std[ch];
            }
        return tensor(data, [1, 3, size, size]);
    }

    /// <summary>The first image's top (class, probability) pairs of `predict --json` output.</summary>
    internal static List<(int, double)> Top(string json) => JsonDocument.Parse(json).RootElement[0].GetProperty("top").EnumerateArray()
        .Select(t => (t.GetProperty("class").GetInt32(), t.GetProperty("probability").GetDouble())).ToList();

    [Fact]
    public void Predict_with_onnxruntime_torch_winograd_and_from_an_onnx_file_agree_with_torch()
    {
        using var folder = new ExportTempFolder();
        var (weights, _) = WeightsWithSidecar(folder);
        string image = folder.File("img.png");
        WritePng(image, 80, Pattern);   // not 64: resized to 73 and centre-cropped

        var torchRun = Run("predict", "--weights", weights, "--json", image);
        var ortRun = Run("predict", "--weights", weights, "--engine", "onnxruntime", "--json", image);
        var winogradRun = Run("predict", "--weights", weights, "--engine", "torch-winograd", "--json", image);
        string onnx = folder.File("tiny.onnx");
        Assert.Equal(0, Run("export", "--weights", weights, "--out", onnx).Code);
        var fileRun = Run("predict", "--weights", onnx, "--json", image);
        foreach (var run in new[] { torchRun, ortRun, winogradRun, fileRun }) Assert.True(run.Code == 0, run.Err);
        Assert.DoesNotContain("warning", winogradRun.Err);   // the tiny model's widths (16, 32, 64) are Winograd's
        // what `predict --engine torch-winograd` opens runs the model's 15 3x3 stride-1 convs as Winograd (its near-uniform
        // 1000-class probabilities print the same either way, so the CLI's output cannot show it)
        using (var predictor = ParNet.Cli.PredictorLoading.Open(weights, null, ParNet.Cli.PredictorLoading.Engine(weights, "torch-winograd"), ParNet.Export.NetworkForm.FusedWhereFusable, false, null))
        {
            predictor.Probabilities(new ParNet.Data.ImageF(new float[3 * 64 * 64], 3, 64, 64));
            Assert.Equal(PredictorEngine.TorchWinograd, predictor.Engine);
            Assert.Equal(15, predictor.Winograd!.Calls);
        }

        var reference = Top(torchRun.Out);
        foreach (var other in new[] { Top(ortRun.Out), Top(winogradRun.Out), Top(fileRun.Out) })
        {
            Assert.Equal(reference.Select(r => r.Item1), other.Select(r => r.Item1));
            for (int i = 0; i < reference.Count; i++) Assert.Equal(reference[i].Item2, other[i].Item2, tolerance: 1e-4);   // within, not rounded to 4 places (a boundary between two roundings fails)
        }
        Assert.Contains("label-", fileRun.Out);   // names travelled in the ONNX metadata
    }

    /// <summary>predict (and serve, which opens its model the same way) and export take a ParNet's trained weights fused unless
    /// --unfused, and a network with no fused form as it is unless --fused, which then refuses it.</summary>
    [Fact]
    public void Predict_and_export_fuse_a_parnet_by_default_take_a_resnet_as_it_is_and_take_unfused()
    {
        using var folder = new ExportTempFolder();
        var (weights, _) = WeightsWithSidecar(folder);
        string image = folder.File("img.png");
        WritePng(image, 64, Pattern);
        using (var parnet = PredictorLoading.Open(weights, null, PredictorEngine.Torch, WeightsLoading.InferenceForm(fused: false, unfused: false), false, null))
            Assert.True(parnet.Info.Fused, "a ParNet's trained weights are fused by default");
        using (var training = PredictorLoading.Open(weights, null, PredictorEngine.Torch, WeightsLoading.InferenceForm(fused: false, unfused: true), false, null))
            Assert.False(training.Info.Fused, "--unfused keeps the training form");
        var byDefault = Run("predict", "--weights", weights, "--json", image);
        var unfused = Run("predict", "--weights", weights, "--unfused", "--json", image);
        Assert.True(byDefault.Code == 0 && unfused.Code == 0, byDefault.Err + unfused.Err);
        var (fusedTop, trainingTop) = (Top(byDefault.Out), Top(unfused.Out));
        Assert.Equal(trainingTop.Select(t => t.Item1), fusedTop.Select(t => t.Item1));
        for (int i = 0; i < fusedTop.Count; i++) Assert.Equal(trainingTop[i].Item2, fusedTop[i].Item2, 5);
        Cli.CliRunner.AssertUserError(Run("predict", "--weights", weights, "--fused", "--unfused", image), "--fused and --unfused");
        foreach (var (option, fused) in new[] { ((string?)null, true), ("--unfused", false) })
        {
            string onnx = folder.File($"parnet{option}.onnx");
            var export = Run(["export", "--weights", weights, "--out", onnx, .. option is null ? Array.Empty<string>() : [option]]);
            Assert.True(export.Code == 0, export.Err);
            using var engine = new OnnxRuntimeEngine(onnx);
            Assert.Equal(fused, engine.Info.Fused);
        }
        Cli.CliRunner.AssertUserError(Run("export", "--weights", weights, "--int8", "--calibration", "2", "--unfused", "--out", folder.File("q.onnx")),
                                      "--int8 quantizes the fused network");

        // widths that are multiples of 16: a ResNet of 8 channels has a 7x7 stem that oneDNN gets wrong, and running it turns
        // oneDNN off for the whole test process (ImageClassifier.EnsureCorrectConvolutions), under the tests beside this one
        var config = new ModelConfig { Name = "resnet_tiny", BlockType = BlockType.ResNetBasic, Planes = [16, 32, 64], BlocksPerStream = [1, 1, 1],
                                       FinalWidth = 64, NumClasses = 10, Activation = ActivationKind.ReLU };
        using var resnet = ModelFactory.Create(config);
        Assert.False(resnet.NeedsOneDnnOff);
        resnet.eval();
        string resnetWeights = folder.File("resnet.safetensors");
        StateDict.Save(resnet, resnetWeights);
        new DeploymentInfo { Model = config, ImageSize = 64 }.WriteSidecar(resnetWeights);   // no data set: ImageNet's names are 1000
        using (var asItIs = PredictorLoading.Open(resnetWeights, null, PredictorEngine.Torch, NetworkForm.FusedWhereFusable, false, null))
            Assert.False(asItIs.Info.Fused, "a ResNet has no fused form: run as stored");
        Assert.Equal(0, Run("predict", "--weights", resnetWeights, "--json", image).Code);
        Assert.Equal(0, Run("export", "--weights", resnetWeights, "--out", folder.File("resnet.onnx")).Code);
        using (var resnetOnnx = new OnnxRuntimeEngine(folder.File("resnet.onnx"))) Assert.False(resnetOnnx.Info.Fused);
        Cli.CliRunner.AssertUserError(Run("predict", "--weights", resnetWeights, "--fused", image), "only ParNet (RepVGG-SSE) models can be fused");
        // --int8 asks for the fused form too: refused as --int8's, not as a --fused never given (it said "--fused: ...")
        var int8 = Run("export", "--weights", resnetWeights, "--int8", "--calibration", "2", "--dataset", "fashion-mnist", "--out", folder.File("q.onnx"));
        Cli.CliRunner.AssertUserError(int8, "--int8 quantizes the fused network: resnet_tiny: only ParNet (RepVGG-SSE) models can be fused");
        Assert.DoesNotContain("--fused", int8.Err);
        Cli.CliRunner.AssertUserError(Run("export", "--model", "resnet12_wide", "--int8", "--calibration", "2", "--out", folder.File("q.onnx")),
                                      "--int8 quantizes the fused network: resnet12_wide: only ParNet");
    }

    [Fact]
    public void Class_names_stored_for_another_class_count_are_refused_with_the_file_named()
    {
        // a 10-class model whose sidecar says imagenet: its 10 logits were named by the first 10 of ImageNet's 1000 names
        using var folder = new ExportTempFolder();
        var config = OfficialParityTests.TinyConfig with { NumClasses = 10 };
        using var model = new ParNetModel(config);
        string weights = folder.File("ten.safetensors"), image = folder.File("img.png");
        StateDict.Save(model, weights);
        new DeploymentInfo { Model = config, Dataset = "imagenet", ImageSize = 64 }.WriteSidecar(weights);
        WritePng(image, 64, Pattern);

        var error = Assert.Throws<InvalidDataException>(() => ClassifierLoader.LoadWeights(weights, null, NetworkForm.AsStored));
        Assert.Equal($"{weights}: stored with these weights, 1000 class names (data set imagenet) for the 10 classes of parnet_official_tiny_silu", error.Message);
        Cli.CliRunner.AssertUserError(Run("predict", "--weights", weights, image), "stored with these weights, 1000 class names");
        Cli.CliRunner.AssertUserError(Run("export", "--weights", weights, "--out", folder.File("ten.onnx")), "stored with these weights, 1000 class names");
    }

    [Fact]
    public void A_configuration_of_another_class_count_than_the_weights_is_told_by_the_classifiers_shape()
    {
        // it was told "stored with these weights, 10 class names (data set fashion-mnist) for the 5 classes": names never given
        using var folder = new ExportTempFolder();
        var config = OfficialParityTests.TinyConfig with { NumClasses = 10 };
        using var model = new ParNetModel(config);
        string weights = folder.File("ten.safetensors");
        StateDict.Save(model, weights, new DeploymentInfo { Model = config, Dataset = "fashion-mnist" }.ToMetadata());
        var error = Assert.Throws<InvalidDataException>(() => ClassifierLoader.LoadWeights(weights, config with { NumClasses = 5 }, NetworkForm.Fused));
        Assert.Equal($"{weights} do not match the model parnet_official_tiny_silu, nothing was loaded: its classifier has 5 classes, " +
                     "the weights' 10 (head.fc.weight [10,128])", error.Message);
    }

    [Fact]
    public void Predict_feeds_fashion_mnist_models_grey_28px_padded_like_training()
    {
        using var folder = new ExportTempFolder();
        var config = ModelRegistry.Get("parnet_cifar_small") with { Planes = [8, 16, 32], FinalWidth = 32, BlocksPerStream = [1, 1, 1], InChannels = 1 };
        using var model = ModelFactory.Create(config);
        ExportTestSupport.Randomize(model, seed: 21);
        model.eval();
        string weights = folder.File("fm.safetensors");
        StateDict.Save(model, weights);
        new DeploymentInfo { Model = config, Dataset = "fashion-mnist" }.WriteSidecar(weights);
        string image = folder.File("shirt.png");
        static SKColor Grey(int x, int y) { byte v = (byte)((x * 9 + y * 5) % 256); return new SKColor(v, v, v); }
        WritePng(image, 28, Grey);

        var (code, stdout, stderr) = Run("predict", "--weights", weights, "--json", image);
        Assert.True(code == 0, stderr);
        var top = JsonDocument.Parse(stdout).RootElement[0].GetProperty("top").EnumerateArray().ToList();
        Assert.Contains(top[0].GetProperty("name").GetString(), DatasetInfo.FashionMnist.ClassNames);

        // expected input: 28x28 grey, zero-padded by 2 to 32x32, then normalized with Fashion-MNIST's statistics
        float mean = DatasetInfo.FashionMnist.Mean[0], std = DatasetInfo.FashionMnist.Std[0];
        var data = Enumerable.Repeat((0f - mean) / std, 32 * 32).ToArray();
        for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++) data[(y + 2) * 32 + x + 2] = (Grey(x, y).Red / 255f - mean) / std;
        using var noGrad = no_grad();
        var expected = nn.functional.softmax(model.call(tensor(data, [1, 1, 32, 32])), 1)[0];
        foreach (var t in top)
            Assert.Equal(expected[t.GetProperty("class").GetInt32()].item<float>(), t.GetProperty("probability").GetDouble(), tolerance: 1e-4);
    }
}
