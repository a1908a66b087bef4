using ParNet.Models;
using ParNet.Runtime;
using ParNet.Training;
using ParNet.Tests.Training;
using ParNet.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace ParNet.Tests.Runtime;

/// <summary>
/// A tensor that no variable, field or dispose scope holds can be finalized by the GC while libtorch still reads it:
/// TorchSharp 0.107 passes raw handles to native code without keeping their owners alive, so the intermediate of
/// `a.to(t).contiguous()` or the argument of `x.copy_(y.to(t))` may be freed mid-call when another thread triggers a
/// collection (RESULTS.md, defect 6: the test host's segfaults in `StateDict.Load`). The library's entry points that
/// run outside a forward pass or a training step therefore open a dispose scope, which holds every tensor created in
/// it; TorchSharp counts, per thread, the tensors created outside any scope.
/// </summary>
public class TensorLifetimeTests
{
    static long CreatedOutsideScopes() => DisposeScopeManager.Statistics.TensorStatistics.CreatedOutsideScopeCount;

    static long TensorsCreatedOutsideScopesBy(Action action)
    {
        long before = CreatedOutsideScopes();
        action();
        return CreatedOutsideScopes() - before;
    }

    [Fact]
    public void Loading_saving_and_relayout_of_weights_create_every_tensor_inside_a_dispose_scope()
    {
        var config = TinyModels.Config();
        using var model = new ParNetModel(config);
        using var other = new ParNetModel(config);
        var weights = other.state_dict();
        using var root = new TempDir();

        Assert.Equal(0, TensorsCreatedOutsideScopesBy(() => StateDict.Load(model, weights)));
        Assert.Equal(0, TensorsCreatedOutsideScopesBy(() => StateDict.Save(model, Path.Combine(root.Path, "w.safetensors"))));
        Assert.Equal(0, TensorsCreatedOutsideScopesBy(() => MemoryFormat.ToChannelsLast(model)));
        Assert.Contains(model.parameters(), p => p.dim() == 4 && MemoryFormat.IsChannelsLast(p));   // the relayout happened
        var loaded = model.state_dict();
        Assert.All(weights.Where(kv => kv.Value.is_floating_point()), kv => Assert.True(loaded[kv.Key].allclose(kv.Value, rtol: 0, atol: 0), kv.Key));   // and the load
    }

    [Fact]
    public void Optimizer_average_and_checkpoint_create_every_tensor_inside_a_dispose_scope()
    {
        var config = TinyModels.Config();
        using var model = new ParNetModel(config);
        Sgd? sgd = null;
        ModelEma? ema = null;
        Assert.Equal(0, TensorsCreatedOutsideScopesBy(() => sgd = new Sgd(model.named_parameters(), 0.9, true, 1e-4, true, masterWeights: true)));
        Assert.Equal(0, TensorsCreatedOutsideScopesBy(() => ema = new ModelEma(model, 0.99)));
        using var root = new TempDir();
        var state = new TrainingState { Recipe = Recipes.FashionMnist, Model = config };
        Assert.Equal(0, TensorsCreatedOutsideScopesBy(() => Checkpoint.Save(Path.Combine(root.Path, "last"), model, sgd!, ema, state)));
        Assert.NotNull(Checkpoint.Locate(Path.Combine(root.Path, "last")));
        sgd!.Dispose();
    }
}
