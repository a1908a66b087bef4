using TorchSharp.Modules;
using static TorchSharp.torch;
using ParNet.Models.Tracing;

namespace ParNet.Models.Blocks;

/// <summary>Global average pool, dropout, linear (timm's ClassifierHead; key fc.*).</summary>
public sealed class ClassifierHead : nn.Module<Tensor, Tensor>, ITraceable
{
    private Linear fc;   // not readonly: ResetClassifier replaces it
    private readonly nn.Module<Tensor, Tensor>? drop;
    private readonly double _dropout;

    public ClassifierHead(int features, int classes, double dropout) : base(nameof(ClassifierHead))
    {
        fc = nn.Linear(features, classes);
        drop = dropout > 0 ? nn.Dropout(dropout) : null;
        _dropout = dropout;
        RegisterComponents();
    }

    public Linear Fc => fc;

    /// <summary>A new, randomly initialised linear layer for <paramref name="classes"/> classes, on the old one's device
    /// and dtype, registered under the same key (head.fc.*); the old one is disposed.</summary>
    public void Reset(int classes)
    {
        var old = fc;
        fc = nn.Linear(old.in_features, classes, device: old.weight!.device, dtype: old.weight.dtype);
        register_module(nameof(fc), null!);   // TorchSharp: registering null removes the entry (it refuses to overwrite one)
        register_module(nameof(fc), fc);
        old.Dispose();
    }

    public override Tensor forward(Tensor x) => fc.call(PreLogits(x));

    /// <summary>Pooled (and, in training, dropped-out) features: what the linear layer reads.</summary>
    public Tensor PreLogits(Tensor x)
    {
        var pooled = GlobalAveragePool.Flat(x);
        return drop is null ? pooled : drop.call(pooled);
    }

    public GraphNode Trace(LayerGraph g, string prefix, GraphNode x)
    {
        var pooled = g.Flatten(g.GlobalAvgPool(x));
        return g.Linear(fc, prefix + "fc", drop is null ? pooled : g.Dropout(pooled, _dropout));
    }
}
