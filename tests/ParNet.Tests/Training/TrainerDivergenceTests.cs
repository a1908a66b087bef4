using ParNet.Models;
using ParNet.Training;
using static TorchSharp.torch;

namespace ParNet.Tests.Training;

/// <summary>
/// A run whose loss and gradients stay finite can still diverge where the per-step checks do not look: BatchNorm's running
/// statistics (an LR far too high made them infinite while the training loss was finite) and the test loss. Such a run
/// finished with exit 0 and saved the broken weights as its last and best checkpoints (walk of session 34); it must stop
/// as a diverged run and leave the checkpoint before it as it was.
/// </summary>
public class TrainerDivergenceTests
{
    static Recipe Quick(int epochs) => new()
    {
        Name = "test", Epochs = epochs, BatchSize = 32, Lr = 0.05, Momentum = 0.9, WeightDecay = 1e-4,
        Schedule = ScheduleKind.Cosine, WarmupEpochs = 0, Seed = 3,
    };

    [Fact]
    public void Infinite_running_statistics_stop_the_run_before_the_epoch_is_saved()
    {
        using var dir = new TempDir();
        var data = SyntheticSource.Patterns(64, 4, 8, 32);
        Trainer.Seed(0);
        using var model = ModelFactory.Create(TinyModels.Config());
        var (name, runningVar) = model.named_buffers().First(b => b.name.EndsWith("running_var", StringComparison.Ordinal));
        // after epoch 2's last step: what a step at an exploding LR leaves in a BatchNorm's statistics
        var progress = new InlineProgress(e =>
        {
            if (e is StepEvent { Epoch: 2 } s && s.Batch == s.Batches)
                using (no_grad()) runningVar.fill_(float.PositiveInfinity);
        });
        using var trainer = new Trainer(model, data, null, new TrainOptions { Recipe = Quick(3), RunDirectory = dir.Path, Progress = progress });
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run());
        Assert.StartsWith($"1 tensor of the weights became non-finite during epoch 2 ({name}); training stopped before saving the epoch; " +
                          $"the last good checkpoint is {Checkpoint.Locate(trainer.LastPath)}.", e.Message);
        using var ckpt = Checkpoint.Load(trainer.LastPath);
        Assert.Equal(1, ckpt.State.Epoch);
        Assert.All(ckpt.Weights.Values, t => Assert.True(t.isfinite().all().item<bool>()));
    }

    [Fact]
    public void A_non_finite_test_loss_stops_the_run_before_the_epoch_is_saved()
    {
        using var dir = new TempDir();
        var data = SyntheticSource.Patterns(64, 4, 8, 32);
        var test = SyntheticSource.Patterns(32, 4, 8, 32);
        test.Corrupt = (_, images) => images.Select(_ => float.NaN).ToArray();
        Trainer.Seed(0);
        using var model = ModelFactory.Create(TinyModels.Config());
        using var trainer = new Trainer(model, data, test, new TrainOptions { Recipe = Quick(2), RunDirectory = dir.Path });
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run());
        Assert.StartsWith("the test loss became NaN after epoch 1; training stopped before saving the epoch; the last good checkpoint is (none yet).", e.Message);
        Assert.Null(Checkpoint.Locate(trainer.LastPath));
        Assert.False(File.Exists(Path.Combine(dir.Path, "metrics.csv")));
    }
}
