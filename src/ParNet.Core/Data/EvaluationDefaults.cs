namespace ParNet.Data;

/// <summary>How the test data of a trained network is read, the same wherever it is scored: after each epoch of training,
/// in a study's cells, and by `parnet eval`.</summary>
public static class EvaluationDefaults
{
    /// <summary>256 images a batch, for an evaluation on its own (`parnet eval`): evaluation keeps no activations for a
    /// backward pass, so twice the training batch of the recipes (128) fits in the memory training used, in half the calls.</summary>
    public const int BatchSize = 256;

    /// <summary>The batch of the evaluations during a training of batch <paramref name="trainingBatchSize"/>: twice it up to
    /// <see cref="BatchSize"/>, for that reason (256 for the recipes' 128), and never less than the training batch (256 for
    /// the ImageNet recipe's 256, as before). Not 256 whatever the training batch: a ParNet-S trained at 224 px with batch 3
    /// was killed by the kernel at its first evaluation, 24 GB into a batch of 256 (sizes audit, session 38).</summary>
    public static int DuringTraining(int trainingBatchSize) =>
        Math.Max(trainingBatchSize, (int)Math.Min(2L * trainingBatchSize, BatchSize));

    /// <summary>The seed of a per-class test subset: 1, fixed and not the run's seed, so that `parnet eval --subset N` scores
    /// the same images as training's `--test-subset N`, and every seed of a study, and every member of its ensembles, is
    /// scored on the same test images.</summary>
    public const int SubsetSeed = 1;

    /// <summary>N test images per class, chosen with <see cref="SubsetSeed"/> (null: all of them).</summary>
    public static Subset? PerClassSubset(int? perClass) => perClass is int n ? Subset.PerClass(n, SubsetSeed) : null;
}
