using TorchSharp;
using TorchSharp.Modules;
using ParNet.Export;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Tests.Models;
using ParNet.Weights;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ParNet.Tests.Export;

/// <summary>Exported ONNX run by ONNX Runtime against our TorchSharp models and the authors' fixture logits.</summary>
[Collection(nameof(RunsAlone))]   // oneDNN's switch is process-wide
public class OnnxExportTests
{
    const double Tolerance = 1e-4;

    static Dictionary<string, Tensor> FixtureIo() => Safetensors.LoadStateDict(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"));

    /// <summary>Eval-mode TorchSharp logits and ONNX Runtime logits of the exported model, same input.</summary>
    static (Tensor Torch, Tensor Onnx) RunBoth(ImageClassifier model, Tensor input, OnnxRuntimeOptions? options = null)
    {
        model.eval();
        var bytes = OnnxExporter.ExportToBytes(model, (int)input.shape[2]);
        using var engine = new OnnxRuntimeEngine(bytes, options);
        using var noGrad = no_grad();
        // a model whose convs oneDNN gets wrong turns it off for the process (a 7x7 stem of 8 channels here); give it back
        // as the other tests expect it, as a user's next process would have it
        using var restore = ParNet.Tests.Runtime.OneDnnSetting.Keep();
        return (model.call(input), engine.Run(input));
    }

    static void AssertClose(Tensor actual, Tensor expected, double tolerance = Tolerance)
    {
        Assert.Equal(expected.shape, actual.shape);
        ExportTestSupport.AssertMeaningful(expected);
        double err = ExportTestSupport.RelativeL2(actual, expected);
        Assert.True(err <= tolerance, $"relative L2 error {err:E3} > {tolerance:E0}");
    }

    [Fact]
    public void Tiny_official_model_unfused_matches_torch_and_the_authors_logits()
    {
        using var model = OfficialParityTests.TrainedTinyModel();
        var io = FixtureIo();
        var (torchLogits, onnxLogits) = RunBoth(model, io["input"]);
        AssertClose(onnxLogits, torchLogits);
        AssertClose(onnxLogits, io["logits"]);
    }

    [Fact]
    public void Tiny_official_model_fused_matches_torch_and_the_authors_logits()
    {
        using var trained = OfficialParityTests.TrainedTinyModel();
        using var fused = ParNet.Fusion.ParNetFuser.Fuse(trained);
        var io = FixtureIo();
        var (torchLogits, onnxLogits) = RunBoth(fused, io["input"]);
        AssertClose(onnxLogits, torchLogits);
        AssertClose(onnxLogits, io["logits"]);
        if (io.TryGetValue("logits_fused", out var officialFused)) AssertClose(onnxLogits, officialFused);

        // the fused graph really is the fused one: convs with a bias, no 1x1 branches
        var onnx = System.Text.Encoding.ASCII.GetString(OnnxExporter.ExportToBytes(fused, 64));
        Assert.Contains("streams.0.0.block.rbr_reparam.bias", onnx);
        Assert.DoesNotContain("rbr_1x1", onnx);
    }

    [Fact]
    public void Initializers_are_named_by_state_dict_keys_and_metadata_carries_config_and_class_names()
    {
        using var model = OfficialParityTests.TrainedTinyModel();
        var names = Enumerable.Range(0, 1000).Select(i => $"name {i}").ToArray();
        var bytes = OnnxExporter.ExportToBytes(model, 64, new OnnxExportOptions { Info = new DeploymentInfo { ClassNames = names, Dataset = "imagenet" } });
        string text = System.Text.Encoding.ASCII.GetString(bytes);
        foreach (var key in model.state_dict().Keys.Where(k => !k.EndsWith("num_batches_tracked")))
            Assert.Contains(key, text);

        using var engine = new OnnxRuntimeEngine(bytes);
        Assert.Equal(names, engine.Info.ClassNames);
        Assert.Equal("imagenet", engine.Info.Dataset);
        Assert.Equal(64, engine.Info.ImageSize);
        Assert.False(engine.Info.Fused);
        Assert.Equal(OfficialParityTests.TinyConfig.ToJson(), engine.Info.Model!.ToJson());
        Assert.Equal([-1L, 3, 64, 64], engine.InputShape);
    }

    [Fact]
    public void Class_names_that_are_not_one_per_class_are_refused_at_export()
    {
        // the 1000 ImageNet names of a 7-class model were written, and FromOnnx then named 7 logits from them
        using var model = new ParNetModel(OfficialParityTests.TinyConfig with { NumClasses = 7 });
        var error = Assert.Throws<ArgumentException>(() =>
            OnnxExporter.ExportToBytes(model, 64, new OnnxExportOptions { Info = new DeploymentInfo { Dataset = "imagenet" } }));
        Assert.Contains("1000 class names (data set imagenet) for the 7 classes of", error.Message);
        Assert.Throws<ArgumentException>(() =>
            OnnxExporter.ExportToBytes(model, 64, new OnnxExportOptions { Info = new DeploymentInfo { ClassNames = ["a", "b"] } }));

        var names = Enumerable.Range(0, 7).Select(i => $"kind {i}").ToArray();
        using var engine = new OnnxRuntimeEngine(OnnxExporter.ExportToBytes(model, 64, new OnnxExportOptions { Info = new DeploymentInfo { ClassNames = names } }));
        Assert.Equal(names, engine.Info.ClassNames);
    }

    [Fact]
    public void Export_to_a_file_and_dynamic_batch()
    {
        using var model = OfficialParityTests.TrainedTinyModel();
        using var folder = new ExportTempFolder();
        string path = folder.File("sub/tiny.onnx");
        OnnxExporter.Export(model, path, 64);
        using var engine = new OnnxRuntimeEngine(path);
        manual_seed(3);
        foreach (int batch in new[] { 1, 3 })
        {
            var x = randn(batch, 3, 64, 64);
            using var noGrad = no_grad();
            AssertClose(engine.Run(x), model.call(x));
        }
        Assert.Throws<ArgumentException>(() => engine.Run(randn(1, 3, 32, 32)));
    }

    public static TheoryData<string> Networks => new() { "resnet_relu", "resnet_silu", "cifar", "cifar_grey", "streams1", "streams2", "streams4", "no_sse", "relu3" };

    public static (ModelConfig Config, int Size) Network(string name) => name switch
    {
        "resnet_relu" => (new ModelConfig { Name = name, BlockType = BlockType.ResNetBasic, Planes = [8, 16, 32], BlocksPerStream = [1, 2, 1], FinalWidth = 32, NumClasses = 10, Activation = ActivationKind.ReLU }, 64),
        "resnet_silu" => (new ModelConfig { Name = name, BlockType = BlockType.ResNetBasic, Layout = Layout.Cifar, Planes = [8, 16], BlocksPerStream = [1, 1], FinalWidth = 16, NumClasses = 7 }, 32),
        "cifar" => (ModelRegistry.Get("parnet_cifar_small") with { Planes = [8, 16, 32], FinalWidth = 32, BlocksPerStream = [1, 2, 1] }, 32),
        "cifar_grey" => (ModelRegistry.Get("parnet_cifar_small") with { Planes = [8, 16, 32], FinalWidth = 32, BlocksPerStream = [2, 1, 1], InChannels = 1 }, 32),
        "streams1" => (new ModelConfig { Name = name, Planes = [16], FinalWidth = 32, BlocksPerStream = [3], NumClasses = 10 }, 64),
        "streams2" => (new ModelConfig { Name = name, Planes = [8, 16], FinalWidth = 32, BlocksPerStream = [2, 2], NumClasses = 10 }, 64),
        "streams4" => (new ModelConfig { Name = name, Planes = [8, 8, 16, 16], FinalWidth = 32, BlocksPerStream = [1, 1, 2, 1], NumClasses = 10, HeadDropout = 0.1 }, 64),
        "no_sse" => (new ModelConfig { Name = name, Planes = [8, 16, 16], FinalWidth = 32, BlocksPerStream = [1, 1, 1], NumClasses = 10, UseSse = false }, 64),
        "relu3" => (new ModelConfig { Name = name, Planes = [8, 16, 16], FinalWidth = 32, BlocksPerStream = [2, 1, 1], NumClasses = 10, Activation = ActivationKind.ReLU }, 64),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Networks))]
    public void Every_layout_matches_torch_sequential_and_parallel(string name)
    {
        var (config, size) = Network(name);
        using var model = ModelFactory.Create(config);
        ExportTestSupport.Randomize(model, seed: 11);
        manual_seed(5);
        var x = randn(2, config.InChannels, size, size);
        var (torchLogits, sequential) = RunBoth(model, x, new OnnxRuntimeOptions { IntraOpThreads = 1 });
        AssertClose(sequential, torchLogits);
        var (_, parallel) = RunBoth(model, x, new OnnxRuntimeOptions { Parallel = true, IntraOpThreads = 1, InterOpThreads = 2 });
        AssertClose(parallel, sequential, 1e-6);
    }

    [Theory]
    [InlineData("cifar")]
    [InlineData("streams1")]
    [InlineData("streams2")]
    [InlineData("streams4")]
    [InlineData("no_sse")]
    public void Fused_layouts_match_torch(string name)
    {
        var (config, size) = Network(name);
        using var trained = ModelFactory.Create(config);
        ExportTestSupport.Randomize(trained, seed: 12);
        trained.eval();
        using var fused = ParNet.Fusion.ParNetFuser.Fuse(trained);
        manual_seed(6);
        var x = randn(2, config.InChannels, size, size);
        var (fusedTorch, fusedOnnx) = RunBoth(fused, x);
        AssertClose(fusedOnnx, fusedTorch);
        using var noGrad = no_grad();
        AssertClose(fusedOnnx, trained.call(x));
    }

    [Fact]
    public void Bfloat16_models_export_float32_weights()
    {
        var (config, size) = Network("streams2");
        using var model = ModelFactory.Create(config);
        ExportTestSupport.Randomize(model, seed: 13);
        model.eval();
        manual_seed(7);
        var x = randn(1, 3, size, size);
        using var noGrad = no_grad();
        using var expected = model.call(x);
        var bytes = OnnxExporter.ExportToBytes(model.to(ScalarType.BFloat16), size);
        using var engine = new OnnxRuntimeEngine(bytes);
        // the bfloat16 copy of the weights: close to float32, not equal
        AssertClose(engine.Run(x), expected, 5e-2);
    }
}

static class ExportTestSupport
{
    /// <summary>Weights <paramref name="path"/> of a small 2-class RGB ParNet (CIFAR layout, random BN statistics) with a
    /// sidecar as a training run on an image folder writes it: <paramref name="classNames"/>, data set "folder", side 32.</summary>
    public static string FolderRunWeights(string path, params string[] classNames)
    {
        var config = ModelRegistry.Get("parnet_cifar_small") with { Planes = [8, 16, 32], FinalWidth = 32, BlocksPerStream = [1, 1, 1], NumClasses = 2 };
        using (var model = ModelFactory.Create(config))
        {
            Randomize(model, 3);
            StateDict.Save(model, path);
        }
        new DeploymentInfo { Model = config, ClassNames = classNames, Dataset = "folder", ImageSize = 32 }.WriteSidecar(path);
        return path;
    }

    /// <summary>Random BN statistics and affine parameters (the default ones hide BN export bugs).</summary>
    public static void Randomize(nn.Module module, long seed)
    {
        manual_seed(seed);
        using var noGrad = no_grad();
        foreach (var m in module.modules())
            if (m is BatchNorm2d bn)
            {
                long c = bn.running_mean!.shape[0];
                bn.running_mean.copy_(randn(c) * 0.3);
                bn.running_var!.copy_(rand(c) + 0.5);
                bn.weight!.copy_(1.0 + (rand(c) - 0.5) * 0.5);
                bn.bias!.copy_(randn(c) * 0.2);
            }
    }

    public static double RelativeL2(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        var a = actual.to(float64);
        var e = expected.to(float64);
        return (a - e).norm().item<double>() / e.norm().item<double>();
    }

    public static void AssertMeaningful(Tensor expected)
    {
        Assert.True(expected.isfinite().all().item<bool>(), "the reference output is not finite");
        Assert.True(expected.to(float64).std().item<double>() > 1e-6, "a constant reference output proves nothing");
    }
}

sealed class ExportTempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("parnet-export-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
