using ParNet.Tests.Data;
using ParNet.Models;
using ParNet.Training;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Tests.Models;

/// <summary>The library API a timm user recognises (issue 12): list/create, pretrained creation, pre-logits, multi-scale features.</summary>
public class LibraryApiTests
{
    static readonly string FixtureWeights = Fixtures.Path("parnet_official_tiny_silu.safetensors");

    [Fact]
    public void List_and_create_read_like_timm()
    {
        Assert.Equal(["parnet_s", "parnet_s92", "parnet_m", "parnet_l", "parnet_xl", "parnet_cifar_small", "parnet_cifar_medium", "parnet_cifar_large"],
            ModelRegistry.List("parnet_*"));
        Assert.Equal(["parnet_cifar_small", "parnet_cifar_medium", "parnet_cifar_large"], ModelRegistry.List("parnet_cifar_*"));
        Assert.Equal(["resnet12_wide"], ModelRegistry.List("resnet??_wide"));
        Assert.Empty(ModelRegistry.List("vit_*"));
        using var model = ModelRegistry.Create("parnet_cifar_small", numClasses: 7, inChannels: 1);
        Assert.Equal((7, 1), (model.Config.NumClasses, model.Config.InChannels));
        Assert.Equal([7L, 128L], model.state_dict()["head.fc.weight"].shape);
    }

    [Fact]
    public void ParNet_features_are_the_streams_then_the_merged_map_the_classifier_pools()
    {
        using var model = ModelRegistry.Create("parnet_s");
        Assert.Equal([new FeatureInfo(96, 4, "streams.0"), new FeatureInfo(192, 8, "streams.1"), new FeatureInfo(384, 16, "streams.2"),
                      new FeatureInfo(1280, 32, "combine")], model.FeatureInfo);

        using var tiny = new ParNetModel(OfficialParityTests.TinyConfig);
        StateDict.Load(tiny, FixtureWeights);
        tiny.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = StateDict.Read(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"))["input"];   // [2, 3, 64, 64]
        var levels = tiny.ForwardIntermediates(x);
        Assert.Equal(tiny.FeatureInfo.Count, levels.Count);
        foreach (var (info, map) in tiny.FeatureInfo.Zip(levels))
            Assert.Equal([2L, info.Channels, 64 / info.Stride, 64 / info.Stride], map.shape);
        Assert.True(levels[^1].eq(tiny.forward_features(x)).all().item<bool>());
        var logits = tiny.forward_head(levels[^1]);
        Assert.True(OfficialParityTests.RelativeL2(logits, StateDict.Read(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"))["logits"]) < 1e-5);
    }

    [Fact]
    public void Feature_info_of_four_imagenet_streams_matches_their_maps()
    {
        // four ImageNet streams halve six times: 224 is no input size of theirs, and the feature info once traced at 224
        var config = new ModelConfig { Planes = [8, 16, 32, 32], FinalWidth = 64, BlocksPerStream = [1, 1, 1, 1], NumClasses = 3 };
        using var model = new ParNetModel(config);
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        manual_seed(2);
        var levels = model.ForwardIntermediates(randn(1, 3, 128, 128));
        Assert.Equal(5, model.FeatureInfo.Count);
        foreach (var (info, map) in model.FeatureInfo.Zip(levels))
            Assert.Equal([1L, info.Channels, 128 / info.Stride, 128 / info.Stride], map.shape);
        Assert.Equal([4, 8, 16, 32, 64], model.FeatureInfo.Select(f => f.Stride));
    }

    [Fact]
    public void ResNet_features_are_its_stage_ends()
    {
        using var model = ModelRegistry.Create("resnet12_wide", numClasses: 5);
        Assert.Equal([4, 8, 16, 32], model.FeatureInfo.Select(f => f.Stride));
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        manual_seed(1);
        var x = randn(1, 3, 64, 64);
        var levels = model.ForwardIntermediates(x);
        foreach (var (info, map) in model.FeatureInfo.Zip(levels))
            Assert.Equal([1L, info.Channels, 64 / info.Stride, 64 / info.Stride], map.shape);
        Assert.True(levels[^1].eq(model.forward_features(x)).all().item<bool>());
    }

    [Fact]
    public void Features_and_intermediates_check_the_input_as_forward_does()
    {
        using var tiny = new ParNetModel(OfficialParityTests.TinyConfig);
        tiny.eval();
        using var noGrad = no_grad();
        // 48 is no multiple of 32: forward refuses it, and forward_features once ran it through blocks that cannot halve it
        using var odd = randn(1, 3, 48, 48);
        Assert.Contains("multiples of 32", Assert.Throws<ArgumentException>(() => tiny.call(odd)).Message);
        Assert.Contains("multiples of 32", Assert.Throws<ArgumentException>(() => tiny.forward_features(odd)).Message);
        Assert.Contains("multiples of 32", Assert.Throws<ArgumentException>(() => tiny.ForwardIntermediates(odd)).Message);
        using var grey = randn(1, 1, 64, 64);
        Assert.Contains("3 input channel(s); got 1", Assert.Throws<ArgumentException>(() => tiny.forward_features(grey)).Message);
    }

    /// <summary>A network used after Dispose ran into libtorch's "Tensor invalid -- empty handle", which names nothing.</summary>
    [Fact]
    public void A_disposed_network_says_so_when_it_is_run_again()
    {
        var tiny = new ParNetModel(OfficialParityTests.TinyConfig);
        tiny.Dispose();
        using var image = randn(1, 3, 64, 64);
        string expected = $"{OfficialParityTests.TinyConfig.Name} was disposed: its weights are freed, so it cannot run again";
        Assert.Equal(expected, Assert.Throws<ObjectDisposedException>(() => tiny.call(image)).Message);
        Assert.Equal(expected, Assert.Throws<ObjectDisposedException>(() => tiny.forward_features(image)).Message);
        Assert.Equal(expected, Assert.Throws<ObjectDisposedException>(() => tiny.ForwardIntermediates(image)).Message);
        using var features = zeros(1, 128, 2, 2);
        Assert.Equal(expected, Assert.Throws<ObjectDisposedException>(() => tiny.forward_head(features)).Message);
    }

    /// <summary>An input of another type than the weights: libtorch said "expected scalar type Double but found Float" with
    /// ~28 native frames, backwards to a caller whose input was the Double (walk K).</summary>
    [Fact]
    public void An_input_of_another_type_than_the_weights_is_named_as_such()
    {
        using var tiny = new ParNetModel(OfficialParityTests.TinyConfig);
        tiny.eval();
        using var noGrad = no_grad();
        string name = OfficialParityTests.TinyConfig.Name;
        using var doubles = randn(1, 3, 64, 64, dtype: ScalarType.Float64);
        foreach (var run in new Action[] { () => tiny.call(doubles), () => tiny.forward_features(doubles), () => tiny.ForwardIntermediates(doubles) })
        {
            var e = Assert.Throws<ArgumentException>(run);
            Assert.Equal($"{name}: the input is Float64, the weights Float32: x.to(ScalarType.Float32), or the model to Float64", e.Message);
            Assert.IsType<System.Runtime.InteropServices.ExternalException>(e.InnerException);
        }
        using var ints = ones(1, 3, 64, 64, dtype: ScalarType.Int32);
        Assert.Equal($"{name}: the input is Int32, the weights Float32: x.to(ScalarType.Float32)", Assert.Throws<ArgumentException>(() => tiny.call(ints)).Message);   // no model of integers offered
        // an input of the weights' type runs as before
        using var floats = doubles.to(ScalarType.Float32);
        using var logits = tiny.call(floats);
        Assert.Equal([1L, 1000L], logits.shape);
    }

    /// <summary>The other uses of a disposed network: saved, its state dict was empty and the file 10 bytes (`{}`), with no
    /// word; fused, exported or given a new classifier it said libtorch's "Tensor invalid -- empty handle"; trained, .NET's
    /// ObjectDisposedException of an internal handle type.</summary>
    [Fact]
    public void A_disposed_network_is_refused_by_name_when_saved_fused_exported_or_given_a_new_classifier()
    {
        var tiny = new ParNetModel(OfficialParityTests.TinyConfig);
        tiny.Dispose();
        using var folder = new ParNet.Tests.Export.ExportTempFolder();
        string name = OfficialParityTests.TinyConfig.Name, weights = folder.File("tiny.safetensors"), onnx = folder.File("tiny.onnx");
        string Refusal(Action use) => Assert.Throws<ObjectDisposedException>(use).Message;
        Assert.Equal($"{name} was disposed: its weights are freed, so it cannot be saved", Refusal(() => ParNet.Weights.StateDict.Save(tiny, weights)));
        Assert.False(File.Exists(weights));
        Assert.Equal($"{name} was disposed: its weights are freed, so it cannot be fused", Refusal(() => ParNet.Fusion.ParNetFuser.Fuse(tiny)));
        Assert.Equal($"{name} was disposed: its weights are freed, so it cannot be exported", Refusal(() => ParNet.Export.OnnxExporter.Export(tiny, onnx, 64)));
        Assert.False(File.Exists(onnx));
        Assert.Equal($"{name} was disposed: its weights are freed, so it cannot take a new classifier", Refusal(() => tiny.ResetClassifier(3)));
    }

    [Fact]
    public void Forward_head_checks_its_features_as_forward_features_returns_them()
    {
        using var tiny = new ParNetModel(OfficialParityTests.TinyConfig);
        tiny.eval();
        using var noGrad = no_grad();
        // pooled features (what preLogits returns) were an IndexOutOfRangeException, a wrong width libtorch's "mat1 and mat2"
        using var pooled = randn(2, 128);
        Assert.Contains("expects features [N, 128, h, w]; got a tensor of shape [2, 128]",
            Assert.Throws<ArgumentException>(() => tiny.forward_head(pooled)).Message);
        using var narrow = randn(2, 64, 2, 2);
        Assert.Contains("expects features [N, 128, h, w]; got a tensor of shape [2, 64, 2, 2]",
            Assert.Throws<ArgumentException>(() => tiny.forward_head(narrow, preLogits: true)).Message);
        using var features = randn(2, 128, 3, 5);   // any spatial size: the pool takes it
        using var logits = tiny.forward_head(features);
        Assert.Equal([2L, 1000L], logits.shape);
    }

    [Fact]
    public void Features_head_and_intermediates_leave_only_their_results_to_the_caller()
    {
        using var tiny = new ParNetModel(OfficialParityTests.TinyConfig);
        tiny.eval();
        using var noGrad = no_grad();
        using var x = randn(1, 3, 64, 64);
        // a loop of forwards without a dispose scope: each call leaves its result, which the caller disposes, and nothing else
        // (forward_features left its ~260 intermediate maps behind)
        static long Live() => TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        long before = Live();
        for (int i = 0; i < 3; i++)
        {
            using var features = tiny.forward_features(x);
            using var embedding = tiny.forward_head(features, preLogits: true);
            using var logits = tiny.forward_head(features);
            foreach (var level in tiny.ForwardIntermediates(x)) level.Dispose();
        }
        Assert.Equal(before, Live());
    }

    [Fact]
    public void Pre_logits_are_what_the_classifier_reads()
    {
        using var tiny = new ParNetModel(OfficialParityTests.TinyConfig);
        StateDict.Load(tiny, FixtureWeights);
        tiny.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        manual_seed(3);
        var features = tiny.forward_features(randn(2, 3, 64, 64));
        var embedding = tiny.forward_head(features, preLogits: true);
        Assert.Equal([2L, 128L], embedding.shape);
        var state = tiny.state_dict();
        var logits = nn.functional.linear(embedding, state["head.fc.weight"], state["head.fc.bias"]);
        Assert.True(OfficialParityTests.RelativeL2(logits, tiny.forward_head(features, preLogits: false)) < 1e-6);
    }

    [Fact]
    public void Create_model_with_weights_keeps_a_fitting_classifier_and_replaces_another()
    {
        var io = StateDict.Read(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var same = Pretrained.CreateModel(OfficialParityTests.TinyConfig, FixtureWeights);
        Assert.True(OfficialParityTests.RelativeL2(same.call(io["input"]), io["logits"]) < 1e-5);   // 1000 classes: the file's classifier too

        using var ten = Pretrained.CreateModel(OfficialParityTests.TinyConfig, FixtureWeights, numClasses: 10);
        Assert.Equal([2L, 10L], ten.call(io["input"]).shape);
        Assert.True(ten.forward_features(io["input"]).eq(same.forward_features(io["input"])).all().item<bool>());
        Assert.Throws<ArgumentException>(() => Pretrained.CreateModel("parnet_tiny", FixtureWeights));   // unknown name, named
    }

    /// <summary>A run checkpoint's EMA weights are the ema.safetensors beside its model.safetensors, as LoadBackbone and every
    /// command's --ema take them: CreateModel refused them ("a .safetensors file holds one set of weights": an audit of session 47).</summary>
    [Fact]
    public void Create_model_takes_the_EMA_weights_beside_a_run_checkpoints_model_weights()
    {
        using var dir = new TempDirectory();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        string checkpoint = dir.File("checkpoints/last");
        Directory.CreateDirectory(checkpoint);
        var weights = StateDict.Read(FixtureWeights);
        StateDict.Write(weights, Path.Combine(checkpoint, "model.safetensors"));
        StateDict.Write(weights.ToDictionary(kv => kv.Key, kv => kv.Value.dtype == ScalarType.Float32 ? kv.Value * 0.5f : kv.Value), Path.Combine(checkpoint, "ema.safetensors"));
        File.WriteAllText(Path.Combine(checkpoint, "state.json"), "{}");   // what marks a run's checkpoint folder
        using var ema = Pretrained.CreateModel(OfficialParityTests.TinyConfig, Path.Combine(checkpoint, "model.safetensors"), pick: CheckpointWeights.Ema);
        using var halved = Pretrained.CreateModel(OfficialParityTests.TinyConfig, Path.Combine(checkpoint, "ema.safetensors"));
        using var model = Pretrained.CreateModel(OfficialParityTests.TinyConfig, Path.Combine(checkpoint, "model.safetensors"));
        var state = ema.state_dict();
        Assert.All(halved.state_dict(), kv => Assert.True(kv.Value.eq(state[kv.Key]).all().item<bool>(), kv.Key));
        Assert.False(model.state_dict()["head.fc.weight"].eq(state["head.fc.weight"]).all().item<bool>());
    }
    [Fact]
    public void ResetClassifier_replaces_only_the_head_in_place_and_the_new_head_trains()
    {
        using var model = new ParNetModel(OfficialParityTests.TinyConfig);
        StateDict.Load(model, FixtureWeights);
        model.eval();
        using var scope = NewDisposeScope();
        var x = StateDict.Read(Fixtures.Path("parnet_official_tiny_silu.io.safetensors"))["input"];
        Tensor before;
        using (no_grad()) before = model.forward_features(x);
        var keys = model.state_dict().Keys.ToList();

        model.ResetClassifier(7);

        Assert.Equal(7, model.Config.NumClasses);
        Assert.Equal(keys, model.state_dict().Keys.ToList());   // same keys: head.fc.weight and head.fc.bias, registered anew
        Assert.Equal([7L, 128L], model.state_dict()["head.fc.weight"].shape);
        Assert.Contains(model.parameters(), p => p.shape.SequenceEqual(new long[] { 7, 128 }));   // the optimizer will see it
        var logits = model.call(x);
        Assert.Equal([2L, 7L], logits.shape);
        using (no_grad()) Assert.True(model.forward_features(x).eq(before).all().item<bool>());   // the backbone is untouched
        logits.sum().backward();
        Assert.True(model.state_dict()["head.fc.weight"].grad is { } g && g.abs().sum().item<float>() > 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.ResetClassifier(0));
    }
}
