using TorchSharp;
using static TorchSharp.torch;
using ParNet.Runtime;

namespace ParNet.Training;

/// <summary>
/// SGD with momentum, Nesterov and L2 weight decay set per parameter (added to the gradient, not decoupled
/// as in AdamW/SGDW), with exactly PyTorch's update
/// (torch.optim.SGD, dampening 0):
///   d = g + wd * p;  buf = d (first step) or momentum * buf + d;  d = nesterov ? d + momentum * buf : buf;  p -= lr * d.
/// Written here rather than using TorchSharp's optimizer so that its state (one momentum buffer per named
/// parameter) is plain named tensors that checkpoint to safetensors, and so that bfloat16 training can keep
/// float32 master weights: with <see cref="MasterWeights"/> the update happens on a float32 copy which is
/// then rounded into the (bfloat16) parameter.
/// </summary>
public sealed class Sgd : IDisposable
{
    readonly List<(string Name, TorchSharp.Modules.Parameter Param, double Decay, double LrScale)> _params = new();
    readonly Dictionary<string, Tensor> _momentum = new(StringComparer.Ordinal);
    readonly Dictionary<string, Tensor> _master = new(StringComparer.Ordinal);
    readonly HashSet<string> _frozen = new(StringComparer.Ordinal);   // parameters given that do not train (requires_grad off)

    public Sgd(IEnumerable<(string Name, TorchSharp.Modules.Parameter Param)> parameters, double momentum, bool nesterov,
               double weightDecay, bool noDecayBnBias, bool masterWeights = false, Func<string, double>? lrScale = null)
    {
        Momentum = momentum;
        Nesterov = nesterov;
        MasterWeights = masterWeights;
        using var scope = NewDisposeScope();   // holds the chain's intermediates (RESULTS.md, defect 6); master copies are detached
        foreach (var (name, p) in parameters)
        {
            if (!p.requires_grad) { _frozen.Add(name); continue; }
            double decay = noDecayBnBias && IsBnOrBias(name, p) ? 0 : weightDecay;
            _params.Add((name, p, decay, lrScale?.Invoke(name) ?? 1.0));
            if (masterWeights) _master[name] = p.detach().to(ScalarType.Float32).clone().DetachFromDisposeScope();
        }
    }

    public double Momentum { get; }
    public bool Nesterov { get; }
    public bool MasterWeights { get; }
    public double LearningRate { get; set; }
    public long Steps { get; private set; }

    /// <summary>Parameters that get no weight decay with noDecayBnBias: 1-D tensors (BN weight/bias, biases).</summary>
    public static bool IsBnOrBias(string name, Tensor p) => p.dim() <= 1 || name.EndsWith(".bias", StringComparison.Ordinal);

    /// <summary>Names of the parameters with their weight decay.</summary>
    public IReadOnlyList<(string Name, double Decay)> Groups => _params.Select(p => (p.Name, p.Decay)).ToList();

    /// <summary>Each parameter's factor on the learning rate (1 unless a lower one was asked for, e.g. a pretrained backbone).</summary>
    public IReadOnlyDictionary<string, double> LrScales => _params.ToDictionary(p => p.Name, p => p.LrScale);

    public void ZeroGrad()
    {
        foreach (var (_, p, _, _) in _params)
        {
            var g = p.grad;
            if (g is not null) { g.detach_(); g.zero_(); }
        }
    }

    public void Step()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        // Scalars held by `using` for the whole update: a temporary Scalar may be finalized while libtorch
        // still reads it (see BatchNorms).
        using Scalar momentum = Momentum, stepSize = -LearningRate;
        foreach (var (name, p, decay, lrScale) in _params)
        {
            var grad = p.grad;
            if (grad is null) continue;
            var weight = MasterWeights ? _master[name] : (Tensor)p;
            var d = grad.dtype == weight.dtype ? grad : grad.to(weight.dtype);
            if (decay != 0)
            {
                using Scalar decayScalar = decay;
                d = d.add(weight, alpha: decayScalar);
            }
            if (Momentum != 0)
            {
                if (_momentum.TryGetValue(name, out var buf)) buf.mul_(momentum).add_(d, alpha: PersistentScalars.One);
                else
                {
                    buf = d.detach().clone();
                    buf.DetachFromDisposeScope();
                    _momentum[name] = buf;
                }
                d = Nesterov ? d.add(buf, alpha: momentum) : buf;
            }
            if (lrScale == 1.0) weight.add_(d, alpha: stepSize);
            else
            {
                using Scalar scaledStep = -LearningRate * lrScale;
                weight.add_(d, alpha: scaledStep);
            }
            if (MasterWeights) p.copy_(weight);
        }
        Steps++;
    }

    /// <summary>Whether <paramref name="keys"/> are those of <see cref="StateDict"/>'s state (every one "momentum." or "master."
    /// and a parameter's name): a checkpoint's optimizer.safetensors, read by mistake as weights.</summary>
    public static bool IsOptimizerState(IReadOnlyCollection<string> keys) =>
        keys.Count > 0 && keys.All(k => k.StartsWith("momentum.", StringComparison.Ordinal) || k.StartsWith("master.", StringComparison.Ordinal));

    /// <summary>The state to checkpoint: "momentum.NAME" and (with master weights) "master.NAME".</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in _momentum) state["momentum." + k] = v;
        foreach (var (k, v) in _master) state["master." + k] = v;
        return state;
    }

    /// <summary>Puts a checkpoint's state back. Entries of parameters given frozen are dropped (a run resumed with more of
    /// it frozen: their momentum moves nothing now); an entry of no parameter given is refused.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, long steps)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();   // holds the chain's intermediates (RESULTS.md, defect 6); the loaded state is detached
        var names = _params.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var key in state.Keys)
        {
            string name = key.StartsWith("momentum.", StringComparison.Ordinal) ? key["momentum.".Length..]
                        : key.StartsWith("master.", StringComparison.Ordinal) ? key["master.".Length..]
                        : throw new InvalidDataException($"optimizer state: unexpected entry '{key}'");
            if (!names.Contains(name) && !_frozen.Contains(name))
                throw new InvalidDataException($"optimizer state: '{key}' names no parameter of this model");
        }
        foreach (var v in _momentum.Values) v.Dispose();
        _momentum.Clear();
        foreach (var (name, p, _, _) in _params)
        {
            if (state.TryGetValue("momentum." + name, out var m))
            {
                if (!m.shape.SequenceEqual(p.shape)) throw new InvalidDataException($"optimizer state: momentum of {name} has the wrong shape");
                _momentum[name] = m.detach().to(MasterWeights ? ScalarType.Float32 : p.dtype).clone().DetachFromDisposeScope();
            }
            if (MasterWeights)
            {
                if (state.TryGetValue("master." + name, out var w)) _master[name].copy_(w);
                else _master[name].copy_(p);   // a float32 checkpoint resumed in bfloat16
            }
        }
        Steps = steps;
    }

    public void Dispose()
    {
        foreach (var v in _momentum.Values) v.Dispose();
        foreach (var v in _master.Values) v.Dispose();
        _momentum.Clear();
        _master.Clear();
    }
}
