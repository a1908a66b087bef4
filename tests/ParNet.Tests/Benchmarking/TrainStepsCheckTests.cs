using ParNet.Bench;
using ParNet.Data;
using ParNet.Tests.Training;
using ParNet.Training;
using static TorchSharp.torch;

namespace ParNet.Tests.Benchmarking;

/// <summary>
/// The pieces of the train-steps check (bench/ParNet.Bench/TrainStepsCheck.cs) that decide what it compares: the batches
/// must be the ones the PyTorch side builds (odd-numbered images mirrored, nothing else changed) and each step's loss the
/// trainer reports must be that step's own, last short batch and new epoch included.
/// </summary>
public class TrainStepsCheckTests
{
    [Fact]
    public void Odd_numbered_images_are_mirrored_and_nothing_else_changes()
    {
        // 6 images of 1x2x3, batches of 4: image i holds i * 10 + its pixel's place, so a mirror shows in the values
        var pixels = Enumerable.Range(0, 6).SelectMany(i => Enumerable.Range(0, 6).Select(p => (float)(i * 10 + p))).ToArray();
        var source = new SyntheticSource(pixels, [0, 1, 2, 3, 4, 5], (1, 2, 3), batchSize: 4, classes: 6, shuffle: false);
        var mirrored = new TrainStepsCheck.OddImagesMirrored(source);
        var seen = new List<float[]>();
        var labels = new List<long>();
        foreach (var batch in mirrored.Epoch(0))
            using (batch)
            {
                for (int i = 0; i < batch.Count; i++) seen.Add(batch.Images[i].flatten().data<float>().ToArray());
                labels.AddRange(batch.Labels.data<long>().ToArray());
            }
        Assert.Equal([0, 1, 2, 3, 4, 5], labels);
        for (int i = 0; i < 6; i++)
        {
            float b = i * 10;
            float[] expected = i % 2 == 0 ? [b, b + 1, b + 2, b + 3, b + 4, b + 5] : [b + 2, b + 1, b, b + 5, b + 4, b + 3];
            Assert.Equal(expected, seen[i]);
        }
        Assert.Equal((6, 4, (1, 2, 3)), (mirrored.Count, mirrored.BatchSize, mirrored.ImageShape));
    }

    /// <summary>The real trainer, at an LR too small to move a weight (1e-30): each step's loss must be the loss of the
    /// unchanged model on that step's batch, computed here apart from the trainer; each LR the schedule's; and the epoch's
    /// loss so far (<see cref="StepEvent.Loss"/>) the mean of its steps' losses weighted by their images.</summary>
    [Fact]
    public void The_trainers_step_losses_and_lrs_come_back_across_a_short_batch_and_a_new_epoch()
    {
        using var dir = new TempDir();
        var data = SyntheticSource.Patterns(10, 4, 8, 4);   // batches of 4, 4 and 2 images an epoch
        var recipe = new Recipe
        {
            Name = "test", Epochs = 2, BatchSize = 4, Lr = 1e-30, Momentum = 0, WeightDecay = 0, Schedule = ScheduleKind.Cosine,
            WarmupEpochs = 0, LabelSmoothing = 0.1,
        };
        Trainer.Seed(0);
        using var model = ParNet.Models.ModelFactory.Create(TinyModels.Config());
        var recovered = new TrainStepsCheck.StepLosses();
        var epochLosses = new List<double>();
        var progress = new InlineProgress(e =>
        {
            recovered.Report(e);
            if (e is StepEvent s) epochLosses.Add(s.Loss);
        });
        using (var trainer = new Trainer(model, data, null, new TrainOptions { Recipe = recipe, RunDirectory = dir.Path, StepLogEvery = 0, Progress = progress }))
            trainer.Run();

        var expected = new List<double>();
        model.train();   // the batch statistics the steps normalized with
        using (no_grad())
            for (int epoch = 0; epoch < 2; epoch++)
                foreach (var batch in data.Epoch(epoch))
                    using (batch)
                        expected.Add(Losses.CrossEntropy(model.call(TrainingPreparation.Input(batch.Images, false, true)), batch.Labels, 0.1).item<float>());
        Assert.Equal(6, recovered.Losses.Count);
        for (int i = 0; i < 6; i++) Assert.Equal(expected[i], recovered.Losses[i], 1e-5);
        int[] images = [4, 4, 2];
        for (int i = 0; i < 6; i++)
        {
            int first = i / 3 * 3;   // the epoch's first step
            double sum = Enumerable.Range(first, i - first + 1).Sum(j => recovered.Losses[j] * images[j % 3]);
            Assert.Equal(sum / Enumerable.Range(first, i - first + 1).Sum(j => images[j % 3]), epochLosses[i], 1e-9);
        }
        // each step's place in the schedule: epoch + batch / batches
        var positions = Enumerable.Range(0, 2).SelectMany(epoch => Enumerable.Range(0, 3).Select(b => epoch + (double)b / 3));
        Assert.Equal(positions.Select(p => LrSchedules.At(recipe, p)), recovered.Lrs);
    }
}
