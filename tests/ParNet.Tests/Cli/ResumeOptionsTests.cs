using ParNet.Tests.Data;
using ParNet.Training;

namespace ParNet.Tests.Cli;

/// <summary>
/// `parnet train --resume RUN` given options that a resumed run cannot honour, or honours only in part (a resume audit of
/// session 44, every option of `train --help` tried on a tiny run): each is refused in one line naming what resumes it, or
/// honoured and said, and the run's files change only with a checkpoint trained under them.
/// </summary>
public class ResumeOptionsTests
{
    static (string Run, string Recipe, string Settings) Trained(TempDirectory dir, params string[] options)
    {
        string run = dir.File("run");
        CliRunner.TrainTiny(run, options);   // 1 epoch of 50 images (5 a class), width 8
        return (run, File.ReadAllText(Path.Combine(run, "recipe.json")), File.ReadAllText(Path.Combine(run, RunSettings.FileName)));
    }

    /// <summary>A resume that diverged before its first checkpoint had rewritten run.json and recipe.json with its options
    /// (--subset 3, LR 1e30): the next plain resume trained on the failed attempt's subset.</summary>
    [Fact]
    public void A_resume_that_diverges_before_its_first_checkpoint_leaves_the_run_files_as_they_were()
    {
        using var dir = new TempDirectory();
        var (run, recipe, settings) = Trained(dir);
        var diverged = CliRunner.Run("train", "--resume", run, "--epochs", "2", "--lr", "1e30", "--subset", "3", "--threads", "1", "--workers", "0");
        Assert.True(diverged.Code == 3, diverged.Err + diverged.Out);
        Assert.StartsWith("parnet train: the test loss became NaN after epoch 2", diverged.Err);
        Assert.Equal(recipe, File.ReadAllText(Path.Combine(run, "recipe.json")));
        Assert.Equal(settings, File.ReadAllText(Path.Combine(run, RunSettings.FileName)));
        var again = CliRunner.Run("train", "--resume", run, "--epochs", "2", "--threads", "1", "--workers", "0");
        Assert.True(again.Code == 0, again.Err + again.Out);
        Assert.Contains(" 50 train / ", again.Out);   // the run's own subset, not the failed attempt's 30
        Assert.Equal(2, Checkpoint.ReadState(Checkpoint.In(run)).Epoch);
        Assert.Contains("\"Epochs\": 2", File.ReadAllText(Path.Combine(run, "recipe.json")));   // written with the checkpoint it trained
    }

    /// <summary>The dropouts were recorded in recipe.json and applied to nothing: the resumed model keeps its own.</summary>
    [Theory]
    [InlineData("--head-dropout", "0.5", "--head-dropout 0.5")]
    [InlineData("--block-dropout", "0.3", "--block-dropout 0.3")]
    public void Dropouts_other_than_the_models_are_refused_on_a_resume(string option, string value, string said)
    {
        using var dir = new TempDirectory();
        var (run, recipe, _) = Trained(dir);
        CliRunner.AssertUserError(CliRunner.Run("train", "--resume", run, "--epochs", "2", option, value),
            $"parnet train: {said} with --resume: the run's model (model.json) has head dropout 0 and block dropout 0, which a resumed " +
            "run keeps; to train with others, start a new run");
        Assert.Equal(recipe, File.ReadAllText(Path.Combine(run, "recipe.json")));
    }

    /// <summary>Turning EMA off went on without a word, its scores changing weights midway, and a later resume with EMA was
    /// refused as if the run had never averaged.</summary>
    [Fact]
    public void Turning_the_average_of_the_weights_off_on_a_resume_is_refused_naming_the_runs_decay()
    {
        using var dir = new TempDirectory();
        var (run, recipe, settings) = Trained(dir, "--ema-decay", "0.9");
        CliRunner.AssertUserError(CliRunner.Run("train", "--resume", run, "--epochs", "2", "--ema-decay", "0"),
            $"parnet train: {Checkpoint.In(run)}: --ema-decay 0, but the run averages its weights (its checkpoint's ema.safetensors; its test " +
            "scores and best checkpoint are the average's): resume with --ema-decay 0.9, or start a new run without it");
        Assert.Equal(recipe, File.ReadAllText(Path.Combine(run, "recipe.json")));
        Assert.Equal(settings, File.ReadAllText(Path.Combine(run, RunSettings.FileName)));
    }

    /// <summary>A frozen run could not be unfrozen (`--freeze none` was refused, and run.json kept the freeze for every resume):
    /// a linear probe, then the whole network.</summary>
    [Fact]
    public void Freeze_none_unfreezes_a_resumed_run()
    {
        using var dir = new TempDirectory();
        string probe = dir.File("probe");
        CliRunner.TrainTiny(probe, "--pretrained", Path.Combine(Trained(dir).Run, "checkpoints", "last", Checkpoint.WeightsFile), "--freeze", "backbone");
        Assert.Equal(FreezeScope.Backbone, RunSettings.Load(probe)!.Freeze);
        var whole = CliRunner.Run("train", "--resume", probe, "--epochs", "2", "--freeze", "none", "--threads", "1", "--workers", "0");
        Assert.True(whole.Code == 0, whole.Err + whole.Out);
        Assert.DoesNotContain("frozen:", whole.Out);
        Assert.Equal(FreezeScope.None, RunSettings.Load(probe)!.Freeze);
    }

    /// <summary>Other images in the middle of an epoch went on without a word: the epoch's first batches followed the run's
    /// order of 50 images, the rest the order of 30.</summary>
    [Fact]
    public void Another_subset_in_the_middle_of_an_epoch_is_warned_of()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        var stopped = CliRunner.Run("train", "--subset", "5", "--test-subset", "1", "--epochs", "1", "--width", "8", "--batch-size", "4",
                                    "--time-budget", "0.0001", "--threads", "1", "--workers", "0", "--out", run);   // 6 ms: stops at its first steps
        Assert.True(stopped.Code == 0, stopped.Err + stopped.Out);
        int batch = Checkpoint.ReadState(Checkpoint.In(run)).BatchInEpoch;
        Assert.InRange(batch, 1, 12);   // in the middle of its 13 batches
        var resumed = CliRunner.Run("train", "--resume", run, "--subset", "3", "--threads", "1", "--workers", "0");
        Assert.True(resumed.Code == 0, resumed.Err + resumed.Out);
        Assert.Contains($"parnet train: warning: --subset 3 with --resume in the middle of epoch 1 (after its batch {batch}): the rest of the " +
                        "epoch follows the order of the data given now, so some of its images train twice and some not at all\n", resumed.Err);
    }

    [Fact]
    public void Another_data_set_classes_or_pretrained_weights_are_refused_on_a_resume_naming_what_the_run_keeps()
    {
        using var dir = new TempDirectory();
        var (run, _, settings) = Trained(dir);
        string weights = Path.Combine(run, "checkpoints", "last", Checkpoint.WeightsFile);
        CliRunner.AssertUserError(CliRunner.Run("train", "--resume", run, "--epochs", "2", "--dataset", "cifar10"),   // it asked for --data DIR
            $"parnet train: --dataset cifar10 with --resume: the run trains on fashion-mnist (run.json), which a resume keeps; to train on " +
            $"cifar10 from its weights, start a new run with --pretrained {weights}");
        CliRunner.AssertUserError(CliRunner.Run("train", "--resume", run, "--epochs", "2", "--classes", "0-4"),
            "parnet train: --classes 0-4 with --resume: the run trains on every class (run.json), which a resume keeps; leave --classes out");
        CliRunner.AssertUserError(CliRunner.Run("train", "--resume", run, "--epochs", "2", "--pretrained-ema"),   // "goes with --pretrained W"
            "parnet train: --pretrained-ema starts a run from pretrained weights; --resume continues one from its checkpoint");
        Assert.Equal(settings, File.ReadAllText(Path.Combine(run, RunSettings.FileName)));
    }

    /// <summary>A schedule budget went unsaid in the header, and a resumed run kept its own without a word (a left item of
    /// session 44): the header says it, how much of it is spent, and that the option sets another.</summary>
    [Fact]
    public void The_header_says_the_schedule_budget_and_that_a_resume_keeps_the_runs_own()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        var started = CliRunner.TrainTiny(run, "--schedule-budget", "5", "--threads", "1", "--workers", "0");
        Assert.Contains("recipe fashion-mnist: 1 epoch, LR schedule within 5 min (--schedule-budget), batch 128,", started.Out);
        var kept = CliRunner.Run("train", "--resume", run, "--epochs", "2", "--threads", "1", "--workers", "0");
        Assert.True(kept.Code == 0, kept.Err + kept.Out);
        Assert.Matches(@"recipe fashion-mnist: 2 epochs, LR schedule within the run's 5 min \(\d+(\.\d)? min of it spent; --schedule-budget MINUTES sets another\), batch 128,", kept.Out);
        Assert.Equal(300, Checkpoint.ReadState(Checkpoint.In(run)).ScheduleBudgetSeconds);
        var other = CliRunner.Run("train", "--resume", run, "--epochs", "3", "--schedule-budget", "7", "--threads", "1", "--workers", "0");
        Assert.True(other.Code == 0, other.Err + other.Out);
        Assert.Matches(@"recipe fashion-mnist: 3 epochs, LR schedule within 7 min \(--schedule-budget; \d+(\.\d)? min of it spent\), batch 128,", other.Out);
        Assert.Equal(420, Checkpoint.ReadState(Checkpoint.In(run)).ScheduleBudgetSeconds);
        var none = CliRunner.Run("train", "--subset", "5", "--test-subset", "1", "--epochs", "1", "--width", "8", "--threads", "1", "--workers", "0",
                                 "--out", dir.File("plain"));
        Assert.True(none.Code == 0, none.Err + none.Out);
        Assert.Contains("recipe fashion-mnist: 1 epoch, batch 128,", none.Out);
    }

    /// <summary>Another test set on a resume went on without a word, the best checkpoint then chosen among accuracies on two
    /// test sets (a left item of session 44); the same one given again changes nothing and is not warned of.</summary>
    [Fact]
    public void Another_test_subset_on_a_resume_is_warned_of()
    {
        using var dir = new TempDirectory();
        var (run, _, _) = Trained(dir);   // --test-subset 1
        var same = CliRunner.Run("train", "--resume", run, "--epochs", "2", "--test-subset", "1", "--threads", "1", "--workers", "0");
        Assert.True(same.Code == 0, same.Err + same.Out);
        Assert.DoesNotContain("--test-subset", same.Err);
        var other = CliRunner.Run("train", "--resume", run, "--epochs", "3", "--test-subset", "2", "--threads", "1", "--workers", "0");
        Assert.True(other.Code == 0, other.Err + other.Out);
        Assert.Contains("parnet train: warning: --test-subset 2 with --resume: the run tested on 1 image per class so far; its epochs from here " +
                        "test on 2 per class, and its best checkpoint is chosen among accuracies on both\n", other.Err);
        Assert.Equal(2, RunSettings.Load(run)!.TestSubsetPerClass);
    }

    /// <summary>Another precision on a resume went on without a word, the run's weights then trained in two (a left item of
    /// session 45); the run's own given again is not warned of, and run.json records the precision of its last epochs.</summary>
    [Fact]
    public void Another_precision_on_a_resume_is_warned_of()
    {
        using var dir = new TempDirectory();
        var (run, _, _) = Trained(dir);   // float32
        var same = CliRunner.Run("train", "--resume", run, "--epochs", "2", "--bf16", "false", "--threads", "1", "--workers", "0");
        Assert.True(same.Code == 0, same.Err + same.Out);
        Assert.DoesNotContain("--bf16", same.Err);
        var other = CliRunner.Run("train", "--resume", run, "--epochs", "3", "--bf16", "--threads", "1", "--workers", "0");
        Assert.True(other.Code == 0, other.Err + other.Out);
        Assert.Contains("parnet train: warning: --bf16 with --resume: the run trained in float32 so far; its epochs from here train in bfloat16 " +
                        "(BatchNorm and the optimizer's master weights in float32), so its weights come of both precisions\n", other.Err);
        Assert.True(RunSettings.Load(run)!.BFloat16);
        var back = CliRunner.Run("train", "--resume", run, "--epochs", "4", "--bf16", "false", "--threads", "1", "--workers", "0");
        Assert.True(back.Code == 0, back.Err + back.Out);
        Assert.Contains("parnet train: warning: --bf16 false with --resume: the run trained in bfloat16 so far; its epochs from here train in float32\n", back.Err);
        // a finished run trains nothing from here: nothing to warn of (review of session 46)
        var finished = CliRunner.Run("train", "--resume", run, "--epochs", "4", "--bf16", "--threads", "1", "--workers", "0");
        Assert.True(finished.Code == 0, finished.Err + finished.Out);
        Assert.DoesNotContain("--bf16", finished.Err);
        Assert.False(RunSettings.Load(run)!.BFloat16);
    }
}
