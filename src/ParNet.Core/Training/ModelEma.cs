using TorchSharp;
using static TorchSharp.torch;

namespace ParNet.Training;

/// <summary>
/// Exponential moving average of a model's weights (timm ModelEmaV2): after every optimizer step,
/// ema = d * ema + (1 - d) * weight for floating-point parameters and buffers (BN statistics included),
/// integer buffers copied. The effective decay is min(decay, (1 + n) / (10 + n)) after n updates, so a
/// short run is not dominated by its random initialization. Kept in float32 whatever the model's dtype.
/// </summary>
public sealed class ModelEma : IDisposable
{
    readonly Dictionary<string, Tensor> _shadow = new(StringComparer.Ordinal);

    public ModelEma(nn.Module model, double decay)
    {
        Decay = decay;
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();   // holds the chain's intermediates (RESULTS.md, defect 6); the copies are detached
        foreach (var (k, v) in model.state_dict())
            _shadow[k] = v.detach().to(v.is_floating_point() ? ScalarType.Float32 : v.dtype).clone().DetachFromDisposeScope();
    }

    public double Decay { get; }
    public long Updates { get; private set; }

    public double EffectiveDecay => Math.Min(Decay, (1.0 + Updates) / (10.0 + Updates));

    public void Update(nn.Module model)
    {
        double d = EffectiveDecay;
        using Scalar decay = d, rest = 1 - d;   // held for the loop: see BatchNorms on temporary Scalars
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        foreach (var (k, v) in model.state_dict())
        {
            var s = _shadow[k];
            if (s.is_floating_point()) s.mul_(decay).add_(v.to(ScalarType.Float32), alpha: rest);
            else s.copy_(v);
        }
        Updates++;
    }

    /// <summary>The averaged weights under the model's keys (owned by this object: do not dispose).</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict() => _shadow;

    public void Load(IReadOnlyDictionary<string, Tensor> state, long updates)
    {
        using var noGrad = no_grad();
        foreach (var (k, s) in _shadow)
        {
            if (!state.TryGetValue(k, out var v)) throw new InvalidDataException($"EMA state lacks '{k}'");
            s.copy_(v);
        }
        Updates = updates;
    }

    public void Dispose()
    {
        foreach (var v in _shadow.Values) v.Dispose();
        _shadow.Clear();
    }
}
