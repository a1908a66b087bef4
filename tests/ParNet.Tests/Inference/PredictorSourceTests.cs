using ParNet.Cli;
using ParNet.Data;
using ParNet.Export;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Tests.Export;
using ParNet.Tests.Models;
using ParNet.Weights;

namespace ParNet.Tests.Inference;

/// <summary>
/// <see cref="PredictorSource"/>'s refusals: each an <see cref="InvalidSettingException"/> of the property at fault, in the
/// API's terms, which the CLI words by option exactly as `parnet predict` and `parnet serve` print them.
/// </summary>
public class PredictorSourceTests
{
    static readonly string TinyWeights = Fixtures.Path("parnet_official_tiny_silu.safetensors");

    static InvalidSettingException Refusal(Action call, string setting, string api, string cli)
    {
        var e = Assert.Throws<InvalidSettingException>(call);
        Assert.Equal(setting, e.ParamName);
        Assert.Equal(api, e.Message);
        Assert.Equal(cli, OptionNames.Worded(e));
        return e;
    }

    /// <summary>Weights saved with their data set and no side (the fine-tuning sample's, before session 47) were predicted at an
    /// ImageNet-layout network's 224 px: Fashion-MNIST's 28 px content blown up 7x, top-1 69% -> 15% (a library audit of
    /// session 47). Fashion-MNIST's 28 px images give the side; a stored side is kept, and CIFAR's weights (also fine-tuned
    /// upsampled) and others take the model's own; the side chosen is not stored as if it were known.</summary>
    [Fact]
    public void Weights_of_fashion_mnist_are_predicted_at_its_side_when_none_is_stored()
    {
        var tiny = OfficialParityTests.TinyConfig with { NumClasses = 10, InChannels = 1 };   // ImageNet layout: 224 by default
        Assert.Equal(224, tiny.DefaultImageSize);
        Assert.Equal(32, new DeploymentInfo { Dataset = "fashion-mnist" }.SideFor(tiny));
        Assert.Equal(64, new DeploymentInfo { Dataset = "fashion-mnist", ImageSize = 64 }.SideFor(tiny));
        Assert.Null(new DeploymentInfo { Dataset = "cifar10" }.SideFor(tiny with { InChannels = 3 }));
        Assert.Null(new DeploymentInfo { Dataset = "imagenet" }.SideFor(tiny with { NumClasses = 1000, InChannels = 3 }));
        Assert.Null(new DeploymentInfo { Model = tiny, Dataset = "fashion-mnist" }.Completed().ImageSize);   // a choice, not stored

        using var dir = new ParNet.Tests.Data.TempDirectory();
        string saved = dir.File("finetuned.safetensors");
        using (var model = ModelFactory.Create(tiny))
            StateDict.Save(model, saved, new DeploymentInfo { Model = tiny, Dataset = "fashion-mnist" }.ToMetadata());   // as the sample saved
        using var predictor = new PredictorSource { Weights = saved }.Open();
        Assert.Equal(32, predictor.Preprocessing().Preprocessing.Size);
    }

    /// <summary>Every engine has one name, and each name reads back as its engine (the CLI's --engine takes these names,
    /// a server prints them).</summary>
    [Fact]
    public void Each_engine_has_a_name_that_reads_back_as_it()
    {
        Assert.Equal(["torch", "torch-winograd", "onnxruntime", "onnxruntime-cuda"], PredictorEngines.Names);
        foreach (var engine in Enum.GetValues<PredictorEngine>())
            Assert.Equal(engine, PredictorEngines.Of(PredictorEngines.Name(engine)));
        Assert.Null(PredictorEngines.Of("onnx"));
    }

    [Theory, InlineData(PredictorEngine.Torch), InlineData(PredictorEngine.TorchWinograd)]
    public void An_onnx_file_under_a_torch_engine_is_refused_before_it_is_read(PredictorEngine engine)
    {
        var source = new PredictorSource { Weights = "missing.onnx", Engine = engine };
        Assert.Equal(PredictorEngine.OnnxRuntime, new PredictorSource { Weights = "missing.ONNX" }.EngineToRun);
        Assert.Equal(PredictorEngine.Torch, new PredictorSource { Weights = "w.safetensors" }.EngineToRun);
        foreach (var call in new Action[] { source.CheckEngine, () => source.Open() })
            Refusal(call, "PredictorSource.Engine", "an .onnx file runs with PredictorSource.Engine = OnnxRuntime or OnnxRuntimeCuda",
                    "an .onnx file runs with --engine onnxruntime or onnxruntime-cuda");
    }

    [Fact]
    public void Ema_weights_of_an_onnx_file_are_refused() => Refusal(
        () => new PredictorSource { Weights = "missing.onnx", WeightsPick = CheckpointWeights.Ema }.Open(), "PredictorSource.WeightsPick",
        "PredictorSource.WeightsPick = Ema picks a training checkpoint's EMA weights; an .onnx file holds one set",
        "--ema picks a training checkpoint's EMA weights; an .onnx file holds one set");

    [Fact]
    public void The_training_form_of_an_onnx_file_is_refused() => Refusal(
        () => new PredictorSource { Weights = "missing.onnx", Form = NetworkForm.Training }.Open(), "PredictorSource.Form",
        "PredictorSource.Form = Training keeps trained weights in their training form; an .onnx file runs in the form it was exported in " +
        "(export the weights with ClassifierLoader.LoadWeights' form = Training for the training form)",
        "--unfused keeps trained weights in their training form; an .onnx file runs in the form it was exported in " +
        "(export the weights with --unfused for the training form)");

    [Fact]
    public void The_fused_form_of_an_onnx_file_that_holds_none_is_refused()
    {
        using var folder = new ExportTempFolder();
        string unfused = folder.File("unfused.onnx"), resnet = folder.File("resnet.onnx");
        var loaded = ClassifierLoader.LoadWeights(TinyWeights, OfficialParityTests.TinyConfig, NetworkForm.Training);
        using (loaded.Model) OnnxExporter.Export(loaded.Model, unfused, 64, new OnnxExportOptions { Info = loaded.Info });
        var (model, info) = ClassifierLoader.RandomlyInitialized(ModelRegistry.Get("resnet12_wide"), NetworkForm.AsStored);
        using (model) OnnxExporter.Export(model, resnet, 32, new OnnxExportOptions { Info = info });

        Refusal(() => new PredictorSource { Weights = unfused, Form = NetworkForm.Fused }.Open(), "PredictorSource.Form",
            "PredictorSource.Form = Fused: this .onnx file holds the training form (exported with ClassifierLoader.LoadWeights' form = Training); an .onnx " +
            "file runs in the form it was exported in (export the weights without ClassifierLoader.LoadWeights' form = Training for the fused form)",
            "--fused: this .onnx file holds the training form (exported with --unfused); an .onnx file runs in the form it was exported in " +
            "(export the weights without --unfused for the fused form)");
        Refusal(() => new PredictorSource { Weights = resnet, Form = NetworkForm.Fused }.Open(), "PredictorSource.Form",
            "PredictorSource.Form = Fused: resnet12_wide is a ResNetBasic network, which has no fused form",
            "--fused: resnet12_wide is a ResNetBasic network, which has no fused form");
        using var asExported = new PredictorSource { Weights = unfused }.Open();   // by default an .onnx file runs as exported
        Assert.Equal(false, asExported.Info.Fused);
        Assert.Equal(PredictorEngine.OnnxRuntime, asExported.Engine);
        // its side is the graph's: another is refused by the preprocessing
        Refusal(() => asExported.Preprocessing(imageSize: 32), ImagePredictor.ImageSizeSetting,
            "ImagePredictor.Preprocessing's imageSize = 32: the ONNX model was exported for 64x64", "--image-size 32: the ONNX model was exported for 64x64");
    }

    [Fact]
    public void No_weights_and_no_model_is_refused() => Refusal(
        () => new PredictorSource().Open(), "PredictorSource.Model",
        "without PredictorSource.Weights, give PredictorSource.Model (the model to initialize randomly)",
        "without --weights, give --model NAME or --config FILE.json (the model to initialize randomly)");

    [Fact]
    public void An_export_side_the_model_refuses_is_refused_by_the_image_size()
    {
        var source = new PredictorSource { Weights = TinyWeights, Model = OfficialParityTests.TinyConfig, Engine = PredictorEngine.OnnxRuntime, ImageSize = 30 };
        var e = Assert.Throws<InvalidSettingException>(() => source.Open());
        Assert.Equal("PredictorSource.ImageSize", e.ParamName);
        Assert.StartsWith("PredictorSource.ImageSize: parnet_official_tiny_silu: image height and width must be positive multiples of", e.Message);
        Assert.StartsWith("--image-size: parnet_official_tiny_silu: image height", OptionNames.Worded(e));
    }

    [SkippableFact]
    public void Onnx_runtime_cuda_without_its_execution_provider_is_refused()
    {
        Skip.If(OnnxRuntimeOptions.CudaAvailable, "this build has ONNX Runtime's CUDA execution provider");
        var e = Assert.Throws<InvalidSettingException>(() => new PredictorSource { Weights = TinyWeights, Engine = PredictorEngine.OnnxRuntimeCuda }.Open());
        Assert.Equal("PredictorSource.Engine", e.ParamName);
        Assert.IsType<NotSupportedException>(e.InnerException);
        Assert.StartsWith("PredictorSource.Engine = OnnxRuntimeCuda: ONNX Runtime's CUDA execution provider is not in this build", e.Message);
        Assert.StartsWith("--engine onnxruntime-cuda: ONNX Runtime's CUDA execution provider is not in this build", OptionNames.Worded(e));
    }

    [SkippableFact]
    public void Torch_winograd_on_a_cpu_without_avx2_is_refused()
    {
        Skip.If(WinogradConvolution.IsSupported, "this CPU has AVX2 and FMA");
        Refusal(new PredictorSource { Weights = TinyWeights, Engine = PredictorEngine.TorchWinograd }.CheckEngine, "PredictorSource.Engine",
            $"PredictorSource.Engine = TorchWinograd: {WinogradConvolution.UnsupportedReason}; use PredictorSource.Engine = Torch",
            $"--engine torch-winograd: {WinogradConvolution.UnsupportedReason}; use --engine torch");
    }

    /// <summary>A side the model takes but the Fashion-MNIST content cannot sit centred in (40: an odd margin) was a plain
    /// ArgumentException from DeploymentPreprocessing, which `parnet predict --image-size 40` printed as an internal error.</summary>
    [Fact]
    public void A_side_the_preprocessing_cannot_place_is_refused_as_the_image_size()
    {
        using var folder = new ExportTempFolder();
        using var predictor = new PredictorSource { Weights = ParNet.Tests.Serving.ServingTestSupport.TinyFashionWeights(folder) }.Open();
        var e = Assert.Throws<InvalidSettingException>(() => predictor.Preprocessing(imageSize: 40));
        Assert.Equal(ImagePredictor.ImageSizeSetting, e.ParamName);
        Assert.StartsWith("image size 40: the 28 px Fashion-MNIST image scaled by 40/32 is 35 px, which leaves an odd margin of 5 px", e.Message);
        Assert.Equal(48, predictor.Preprocessing(imageSize: 48).Preprocessing.Size);   // 48 places it: accepted
    }

    /// <summary>`--fused` weights of a network without a fused form: ClassifierLoader's refusal of its form, worded as this
    /// source's Form (the loader's form is the one it was given), as for an .onnx file.</summary>
    [Fact]
    public void The_fused_form_of_a_network_without_one_is_refused_as_the_form()
    {
        var resnet = ModelRegistry.Get("resnet12_wide") with { NumClasses = 10 };
        var e = Assert.Throws<InvalidSettingException>(() => new PredictorSource { Model = resnet, Form = NetworkForm.Fused }.Open());
        Assert.Equal("PredictorSource.Form", e.ParamName);
        Assert.IsType<NotSupportedException>(e.InnerException);
        Assert.Equal($"--fused: {e.InnerException!.Message}", OptionNames.Worded(e));
        Assert.Equal($"PredictorSource.Form = Fused: {e.InnerException.Message}", e.Message);
    }

    [Fact]
    public void A_data_set_that_does_not_fit_the_model_is_refused()
    {
        var info = new DeploymentInfo();
        Refusal(() => info.WithDataset(OfficialParityTests.TinyConfig, "svhn"), DeploymentInfo.DatasetSetting,
            "DeploymentInfo.WithDataset's dataset = svhn: unknown; known: fashion-mnist, mnist, cifar10, cifar100, imagenet, folder",
            "--dataset svhn: unknown; known: fashion-mnist, mnist, cifar10, cifar100, imagenet, folder");
        Refusal(() => info.WithDataset(OfficialParityTests.TinyConfig, "cifar10"), DeploymentInfo.DatasetSetting,
            "DeploymentInfo.WithDataset's dataset = cifar10: 10 class names (data set cifar10) for the 1000 classes of parnet_official_tiny_silu",
            "--dataset cifar10: 10 class names (data set cifar10) for the 1000 classes of parnet_official_tiny_silu");
        var grey = OfficialParityTests.TinyConfig with { InChannels = 1, NumClasses = 100 };
        Refusal(() => info.WithDataset(grey, "cifar100"), DeploymentInfo.DatasetSetting,
            "DeploymentInfo.WithDataset's dataset = cifar100 has 3-channel images; the model takes 1",
            "--dataset cifar100 has 3-channel images; the model takes 1");
    }

    /// <summary>A model of 5 of Fashion-MNIST's classes, given the data set it stores (`convert --dataset fashion-mnist`), was
    /// refused with "10 class names ... for the 5 classes" (an audit of session 45): it keeps its own class names.</summary>
    [Fact]
    public void The_data_set_stored_with_a_subsets_weights_keeps_their_class_names()
    {
        var fiveClasses = ModelRegistry.Get("parnet_cifar_small") with { NumClasses = 5, InChannels = 1 };
        string[] names = ["Trouser", "Pullover", "Dress", "Coat", "Bag"];
        var info = new DeploymentInfo { Model = fiveClasses, Dataset = "fashion-mnist", ClassNames = names };
        Assert.Equal(names, info.WithDataset(fiveClasses, "fashion-mnist").ClassNames);
        // another data set's names are its own: ten, refused for five classes
        Refusal(() => info.WithDataset(fiveClasses, "mnist"), DeploymentInfo.DatasetSetting,
            "DeploymentInfo.WithDataset's dataset = mnist: 10 class names (data set mnist) for the 5 classes of parnet_cifar_small",
            "--dataset mnist: 10 class names (data set mnist) for the 5 classes of parnet_cifar_small");
    }
}
