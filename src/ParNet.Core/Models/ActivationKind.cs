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

    /// <summary>The activation written over <paramref name="x"/> (returned): for inference, on a tensor nothing else reads.</summary>
    public static Tensor ApplyInPlace(ActivationKind kind, Tensor x) => kind switch
    {
        ActivationKind.SiLU => nn.functional.silu(x, inplace: true),
        ActivationKind.ReLU => nn.functional.relu(x, inplace: true),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown activation"),
    };
}
