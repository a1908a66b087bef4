using TorchSharp;
using static TorchSharp.torch;

namespace ParNet.Models;

/// <summary>The paper uses SiLU; the released configs, as parsed, build ReLU networks. Neither has weights.</summary>
public enum ActivationKind { SiLU, ReLU }

public static class Activations
{
    public static nn.Module<Tensor, Tensor> Create(ActivationKind kind) => kind switch
    {
        ActivationKind.SiLU => nn.SiLU(),
        ActivationKind.ReLU => nn.ReLU(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown activation"),
    };
}
