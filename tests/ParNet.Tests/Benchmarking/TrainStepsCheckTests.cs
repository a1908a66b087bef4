using ParNet.Bench;
using ParNet.Data;
using ParNet.Tests.Training;
using ParNet.Training;
using static TorchSharp.torch;

namespace ParNet.Tests.Benchmarking;

/// <summary>
/// The pieces of the train-steps check (bench/ParNet.Bench/TrainStepsCheck.cs) that decide what it compares: the batches
/// must be the ones the PyTorch side builds (odd-numbered images mirrored, nothing else changed) and each step's loss must
/// come back exactly from the trainer's running mean, last short batch and new epoch included.
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

    [Fact]
    public void Each_steps_loss_comes_back_from_the_running_mean_across_a_short_batch_and_a_new_epoch()
    {
        // 10 images in batches of 4: steps of 4, 4 and 2 images an epoch, two epochs
        var source = new SyntheticSource(new float[10], new long[10], (1, 1, 1), batchSize: 4, classes: 2, shuffle: false);
        double[] losses = [2.3, 2.1, 1.7, 1.6, 1.25, 0.9];
        var recovered = new TrainStepsCheck.StepLosses(source);
        for (int epoch = 0, step = 0; epoch < 2; epoch++)
        {
            double sum = 0;
            int seen = 0;
            for (int b = 0; b < 3; b++, step++)
            {
                int count = b < 2 ? 4 : 2;
                sum += losses[step] * count;
                seen += count;
                recovered.Report(new EpochEvent(new EpochMetrics { Epoch = epoch }, 2, false));   // other events are passed over
                recovered.Report(new StepEvent(epoch + 1, 2, b + 1, 3, sum / seen, 0.5, 0.1, 100, TimeSpan.Zero));
            }
        }
        Assert.Equal(losses.Length, recovered.Losses.Count);
        for (int i = 0; i < losses.Length; i++) Assert.Equal(losses[i], recovered.Losses[i], 1e-12);
    }
}
