using ParNet.Data;
using TorchSharp;
using ParNet.Models;
using ParNet.Runtime;
using static TorchSharp.torch;

namespace ParNet.Training;

/// <summary>
/// The trainer's checks before it sets anything up: data the model cannot take, batches its BatchNorms cannot normalize or
/// this machine's memory cannot hold, and whether a resumed run has anything left to train (its schedule budget spent).
/// </summary>
public sealed partial class Trainer
{
    /// <summary>
    /// Data the model cannot take, refused before anything is set up: more classes than the classifier has outputs crashed in
    /// libtorch's loss ("Target 9 is out of bounds", with its native stack), an empty training set "completed" with loss 0,
    /// and images of other channels failed only at the first step.
    /// </summary>
    static void RequireFits(ModelConfig model, IBatchSource data, bool training)
    {
        string what = training ? "training" : "evaluation";
        if (data.ClassNames.Count > model.NumClasses)
            throw new ArgumentException($"the {what} data has {data.ClassNames.Count} classes, {model.Name}'s classifier {model.NumClasses}: " +
                                        $"ResetClassifier({data.ClassNames.Count}) on the model, or LoaderOptions.Classes to keep {model.NumClasses} of them");
        if (data.ImageShape.Channels != model.InChannels)
            throw new ArgumentException($"the {what} data has {data.ImageShape.Channels}-channel images, {model.Name} takes {model.InChannels}");
        if (training && data.Count == 0) throw new ArgumentException("the training data holds no images");
        if (training && data.BatchesPerEpoch == 0)   // a loader that drops its last incomplete batch, and has no other
            throw new ArgumentException($"the training data makes no batch: {data.Count} images, fewer than a batch of {data.BatchSize}, " +
                                        "and its loader drops a last incomplete batch (LoaderOptions.DropLast)");
    }

    /// <summary>
    /// Refuses a training whose BatchNorms would see one value per channel: a batch of one image on the network's 1x1 maps
    /// (its last stage at 32 px in the ImageNet layout, at 8 px in the CIFAR one). The variance of one value is 0/0: NaN
    /// running statistics, found only at the epoch's end and blamed on the LR ("Try a lower --lr"), where a last batch of
    /// one image (100 images, batch 33) or batch 1 had caused it (sizes audit, session 38; PyTorch refuses such a batch:
    /// "Expected more than 1 value per channel when training"). BatchNorms kept in eval mode use their running statistics.
    /// </summary>
    internal static void RequireMoreThanOneValuePerBatchNorm(ImageClassifier model, IBatchSource train, IReadOnlyCollection<nn.Module> keptInEvalMode,
                                                            bool statisticsAcrossProcesses)
    {
        int batch = train.BatchSize, count = train.Count;
        // a last batch of one, unless the source drops it (DropLast)
        bool batchOfOne = batch == 1 || (count % batch == 1 && (long)train.BatchesPerEpoch * batch > count);
        if (!batchOfOne || statisticsAcrossProcesses) return;   // synchronized BatchNorm: every process's images
        int stride = model.FeatureInfo.Max(f => f.Stride);
        var (_, height, width) = train.ImageShape;
        if ((height + stride - 1) / stride * ((width + stride - 1) / stride) > 1) return;
        var evalMode = keptInEvalMode.ToHashSet();
        if (model.modules().OfType<TorchSharp.Modules.BatchNorm2d>().All(evalMode.Contains)) return;
        string setting = SettingNames.Of(nameof(Recipe), nameof(Recipe.BatchSize));
        // the nearest batch that leaves no batch of one: one above the data's count leaves one batch of all of it
        int? better = count < 2 ? null
            : Enumerable.Range(1, count + 1).SelectMany(d => new[] { batch + d, batch - d }).First(b => b >= 2 && count % b != 1);
        throw new InvalidSettingException(setting, names =>
            $"{(batch == 1 ? "every batch holds" : $"the last batch of each epoch holds")} one image ({count} training images, " +
            $"{names.Given(setting, batch)}), and at {height}x{width} px {model.Config.Name}'s last stage has 1x1 maps: its BatchNorms " +
            $"cannot normalize a single value (its variance is 0/0, NaN). " +
            (better is int b ? $"Take {names.Given(setting, b)}" : "Train on more than one image"));
    }

    /// <summary>Refuses a training batch whose step surely cannot fit in this machine's memory
    /// (<see cref="TrainingPreparation.RequireStepFits"/>), worded as the recipe's batch setting; not checked where a
    /// resume trains nothing.</summary>
    internal static void RequireStepFits(ImageClassifier model, IBatchSource train, bool bfloat16, int processesHere, bool trainsNothing)
    {
        if (trainsNothing) return;
        var (_, height, width) = train.ImageShape;
        int batch = Math.Min(train.BatchSize, train.Count);   // a batch larger than the data never fills
        string setting = SettingNames.Of(nameof(Recipe), nameof(Recipe.BatchSize));
        try { TrainingPreparation.RequireStepFits(model, height, width, batch, bfloat16, processesHere); }
        catch (ArgumentException e) { throw new InvalidSettingException(setting, names => $"{names.Given(setting, train.BatchSize)}: {e.Message}", e); }
    }

    /// <summary>Whether a run resumed from <paramref name="resumed"/> trains nothing: it had finished all of a recipe of
    /// <paramref name="epochs"/> epochs, or its schedule budget (<paramref name="scheduleBudget"/> given now, else the run's) had
    /// ended its schedule (its checkpoint and run files then stay as they were; a budget-ended run resumed rewrote them).</summary>
    public static bool TrainsNothing(TrainingState? resumed, int epochs, TimeSpan? scheduleBudget) =>
        resumed is { Finished: true } s && (s.Epoch >= epochs || ScheduleSpent(s, scheduleBudget) is not null);

    /// <summary>The schedule budget, in seconds, that has ended the LR schedule of the run at <paramref name="s"/> (the run's
    /// time has reached it: the schedule's position is then its end, whatever the epochs), or null. Within a second: a
    /// data-parallel run ended on its processes' mean time, and saved rank 0's own, which can be a little less.</summary>
    static double? ScheduleSpent(TrainingState s, TimeSpan? scheduleBudget) =>
        ScheduleBudgetOf(scheduleBudget, s) is { TotalSeconds: var budget } && s.WallSeconds + 1 >= budget ? budget : null;

    /// <summary>The schedule budget of a run: <paramref name="given"/>, else a resumed run's own (its checkpoint's), which a
    /// resume keeps; null when it has none.</summary>
    internal static TimeSpan? ScheduleBudgetOf(TimeSpan? given, TrainingState? resumed) =>
        given ?? (resumed?.ScheduleBudgetSeconds is double seconds ? TimeSpan.FromSeconds(seconds) : null);
}
