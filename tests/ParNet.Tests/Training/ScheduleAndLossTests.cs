using ParNet.Training;
using static TorchSharp.torch;

namespace ParNet.Tests.Training;

public class ScheduleAndLossTests
{
    [Theory]
    [InlineData(0, 0.1)]
    [InlineData(119.99, 0.1)]
    [InlineData(120 - 1e-9, 0.1)]   // where the trainer logs the end of epoch 120: still its LR, not the next one's
    [InlineData(120, 0.02)]     // 30% of 400: divided by 5
    [InlineData(239.5, 0.02)]
    [InlineData(240, 0.004)]    // 60%
    [InlineData(320, 0.0008)]   // 80%
    [InlineData(399.9, 0.0008)]
    public void CifarPresetDividesBy5At30_60_80Percent(double epoch, double expected)
        => Assert.Equal(expected, LrSchedules.At(Recipes.Cifar, epoch), 12);

    [Fact]
    public void Cifar_preset_is_the_papers()
    {
        var r = Recipes.Cifar;
        Assert.Equal((400, 128, 0.1, 0.9, 3e-4), (r.Epochs, r.BatchSize, r.Lr, r.Momentum, r.WeightDecay));
        Assert.Equal((0.2, 0.2), (r.HeadDropout, r.BlockDropout));
        Assert.Equal([120, 240, 320], LrSchedules.MilestoneEpochs(r.Milestones, r.Epochs));
    }

    [Theory]
    [InlineData(0, 0.0)]
    [InlineData(2.5, 0.4)]      // linear warm-up over 5 epochs
    [InlineData(5, 0.8)]
    [InlineData(29.99, 0.8)]
    [InlineData(30 - 1e-9, 0.8)]    // the end of epoch 30, as the trainer logs it
    [InlineData(30, 0.08)]      // x0.1 every 30 epochs
    [InlineData(60, 0.008)]
    [InlineData(90, 0.0008)]
    [InlineData(119.9, 0.0008)]
    public void ImageNetPresetWarmsUpThenSteps(double epoch, double expected)
        => Assert.Equal(expected, LrSchedules.At(Recipes.ImageNet, epoch, batchSize: 2048), 12);

    [Fact]
    public void ImageNet_LR_scales_linearly_with_the_batch()
    {
        Assert.Equal(0.1, LrSchedules.At(Recipes.ImageNet, 10, batchSize: 256), 12);
        Assert.Equal(0.05, LrSchedules.At(Recipes.ImageNet, 10, batchSize: 128), 12);
        Assert.Equal((120, 0.1), (Recipes.ImageNet.Epochs, Recipes.ImageNet.LabelSmoothing));
    }

    [Theory]
    [InlineData(5, 0.8)]
    [InlineData(102.5, 0.4)]    // half-way through the cosine after warm-up
    [InlineData(200, 0.0)]
    public void ImageNetLongIsCosineOver200Epochs(double epoch, double expected)
    {
        Assert.Equal(200, Recipes.ImageNetLong.Epochs);
        Assert.Equal(expected, LrSchedules.At(Recipes.ImageNetLong, epoch, batchSize: 2048), 9);
    }

    [Fact]
    public void Pure_functions()
    {
        Assert.Equal(0.01, LrSchedules.Step(1.0, 20, 10, 0.1), 12);
        Assert.Equal(0.25, LrSchedules.MultiStep(1.0, 7, [3, 6, 9], 0.5), 12);
        Assert.Equal(0.5, LrSchedules.Cosine(1.0, 5, 0, 10), 12);
        Assert.Equal(0.75, LrSchedules.Linear(1.0, 2.5, 0, 10), 12);
        Assert.Equal(0.55, LrSchedules.Warmup(1.0, 0.5, 1, 0.1), 12);
    }

    [Fact]
    public void Label_smoothing_loss_matches_hand_computation()
    {
        // logits [1, 2, 3], target 2, eps 0.1: log p = x - log(e + e^2 + e^3) = x - 3.40760596
        // loss = 0.9 * 0.40760596 + 0.1 * mean(2.40760596, 1.40760596, 0.40760596) = 0.50760596
        using var logits = tensor(new float[] { 1, 2, 3 }, [1, 3]);
        using var target = tensor(new long[] { 2 }, [1L]);
        using var smoothed = Losses.CrossEntropy(logits, target, 0.1);
        using var plain = Losses.CrossEntropy(logits, target, 0);
        Assert.Equal(0.50760596, smoothed.item<float>(), 5);
        Assert.Equal(0.40760596, plain.item<float>(), 5);
    }

    [Fact]
    public void Sgd_step_is_PyTorchs()
    {
        // p = 1, loss = 0.5 p -> g = 0.5; wd 0.1: d = 0.6; momentum buffer 0.6; nesterov d = 0.6 + 0.9 * 0.6 = 1.14
        using var module = nn.Linear(1, 1, hasBias: true);
        using (no_grad()) { module.weight!.fill_(1); module.bias!.fill_(1); }
        using var sgd = new Sgd(module.named_parameters(), 0.9, nesterov: true, weightDecay: 0.1, noDecayBnBias: true) { LearningRate = 0.1 };
        for (int step = 0; step < 2; step++)
        {
            using var x = ones(1, 1);
            using var loss = module.call(x).sum() * 0.5;
            sgd.ZeroGrad();
            loss.backward();
            sgd.Step();
        }
        // weight: step 1 -> 1 - 0.1*1.14 = 0.886; step 2: d = 0.5 + 0.0886 = 0.5886, buf = 0.54 + 0.5886 = 1.1286,
        //         d = 0.5886 + 0.9*1.1286 = 1.60434 -> 0.886 - 0.160434 = 0.725566
        Assert.Equal(0.725566, module.weight!.item<float>(), 5);
        // bias: no decay: d = 0.5, buf 0.5, nesterov 0.95 -> 0.905; then buf 0.95, d = 0.5 + 0.855 = 1.355 -> 0.7695
        Assert.Equal(0.7695, module.bias!.item<float>(), 5);
        Assert.Contains(sgd.Groups, g => g.Name == "bias" && g.Decay == 0);
    }
}

/// <summary>Schedules whose steps a run never carries out were trained without a word (note 41): `--schedule step` at a step
/// longer than the run kept the LR at its peak, milestones rounding to 0 or to the run's end moved or dropped a step.</summary>
public class UnreachedStepTests
{
    [Fact]
    public void A_step_longer_than_the_run_is_named_with_what_to_give()
    {
        Assert.Equal("the LR never steps: one step every 30 epochs (Recipe.StepEpochs = 30) in a run of 8 (Recipe.Epochs = 8); " +
                     "give Recipe.StepEpochs below 8, or Recipe.Schedule = cosine for a run whose LR decays",
                     LrSchedules.UnreachedSteps(Recipes.ImageNet with { Epochs = 8 }, ParNet.Runtime.SettingNames.Api));
        Assert.Equal("the LR never steps: one step every 30 epochs (Recipe.StepEpochs = 30) in a run of 1 (Recipe.Epochs = 1); " +
                     "give Recipe.Schedule = cosine for a run whose LR decays",
                     LrSchedules.UnreachedSteps(Recipes.ImageNet with { Epochs = 1, WarmupEpochs = 0 }, ParNet.Runtime.SettingNames.Api));
        Assert.Null(LrSchedules.UnreachedSteps(Recipes.ImageNet with { Epochs = 31 }, ParNet.Runtime.SettingNames.Api));
        Assert.Null(LrSchedules.UnreachedSteps(Recipes.ImageNet with { Epochs = 8, Schedule = ScheduleKind.Cosine }, ParNet.Runtime.SettingNames.Api));
    }

    [Fact]
    public void No_preset_warns_at_its_own_epochs()
        => Assert.All(Recipes.All, r => Assert.Null(LrSchedules.UnreachedSteps(r, ParNet.Runtime.SettingNames.Api)));

    [Theory]
    [InlineData(3, null, "0.6 and 0.8 round to epoch 2: x 0.2^2 there at once (give Recipe.Milestones that round to different epochs from 1 to 2, ")]
    [InlineData(2, null, "0.3 and 0.6 round to epoch 1: x 0.2^2 there at once; 0.8 rounds to epoch 2, the run's end: that step never comes " +
                         "(give Recipe.Milestones of one fraction, rounding to epoch 1, ")]
    [InlineData(1, null, "0.3 rounds to epoch 0: the LR is x 0.2 from the first step; 0.6 and 0.8 round to epoch 1, the run's end: those steps never come (give ")]
    [InlineData(2, new[] { 0.1, 0.2 }, "0.1 and 0.2 round to epoch 0: the LR is x 0.2^2 from the first step (give Recipe.Milestones of one fraction, " +
                                        "rounding to epoch 1, ")]
    public void Milestones_that_a_short_run_moves_or_drops_are_named(int epochs, double[]? milestones, string what)
        => Assert.Equal($"the multistep schedule's milestones (Recipe.Milestones, fractions of a run of {epochs} epochs: Recipe.Epochs = {epochs}) " +
                        $"at whole epochs: {what}more epochs, or Recipe.Schedule = cosine)",
                        LrSchedules.UnreachedSteps(Recipes.Cifar with { Epochs = epochs, WarmupEpochs = 0, Milestones = milestones is null ? Recipes.Cifar.Milestones : [.. milestones] },
                                                   ParNet.Runtime.SettingNames.Api));

    /// <summary>The warning against what the schedule does: silent exactly when the LR, read at every epoch's start, takes one
    /// value more than there are milestones, the first of them the peak.</summary>
    [Fact]
    public void The_multistep_warning_is_silent_exactly_when_every_milestone_steps_once_inside_the_run()
    {
        for (int epochs = 1; epochs <= 40; epochs++)
        {
            var r = Recipes.Cifar with { Epochs = epochs, WarmupEpochs = 0 };
            var lrs = Enumerable.Range(0, epochs).Select(e => LrSchedules.At(r, e)).ToList();
            bool everyStepOnce = lrs.Distinct().Count() == r.Milestones.Length + 1 && lrs[0] == r.Lr
                                 && lrs.Zip(lrs.Skip(1)).All(p => p.Second == p.First || Math.Abs(p.Second - p.First * r.StepGamma) < 1e-12);
            Assert.True(everyStepOnce == (LrSchedules.UnreachedSteps(r, ParNet.Runtime.SettingNames.Api) is null), $"{epochs} epochs: {string.Join(", ", lrs)}");
        }
    }
}
