using static TorchSharp.torch;

namespace ParNet.Training;

public static class Losses
{
    /// <summary>
    /// Mean cross-entropy with label smoothing as in PyTorch (label_smoothing=eps): the target is
    /// (1 - eps) on the true class plus eps / K on every class, so
    /// loss = (1 - eps) * (-log p_y) + eps * mean_k(-log p_k).
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, double smoothing = 0)
    {
        using var scope = NewDisposeScope();
        var logp = logits.to(ScalarType.Float32).log_softmax(1);
        var nll = -logp.gather(1, targets.unsqueeze(1)).squeeze(1);
        var loss = smoothing == 0 ? nll.mean() : ((1 - smoothing) * nll + smoothing * -logp.mean([1L])).mean();
        return loss.MoveToOuterDisposeScope();
    }
}
