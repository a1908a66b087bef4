using static TorchSharp.torch;

namespace ParNet.Training;

public static class Losses
{
    /// <summary>
    /// Mean cross-entropy with label smoothing as in PyTorch (label_smoothing=eps): the target is
    /// (1 - eps) on the true class plus eps / K on every class, so
    /// loss = (1 - eps) * (-log p_y) + eps * mean_k(-log p_k).
    /// libtorch's own cross_entropy computes it: the smoothing travels as a plain double, whereas writing the
    /// formula with C# operators builds temporary TorchSharp Scalars on every step (see PersistentScalars).
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, double smoothing = 0) =>
        nn.functional.cross_entropy(logits.to(ScalarType.Float32), targets, label_smoothing: smoothing);
}
