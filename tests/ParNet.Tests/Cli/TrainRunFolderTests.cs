using ParNet.Runtime;
using ParNet.Tests.Data;
using ParNet.Tests.Runtime;
using ParNet.Training;

namespace ParNet.Tests.Cli;

/// <summary>
/// One run folder, used by more than one `parnet train` (concurrency audit, session 38): a second run into a folder
/// another process trains in, a resume of a run still training, a resume given --out, and one given fewer epochs than
/// the run trained. Each was taken and mixed two runs, died later on "Directory not empty", trained elsewhere than
/// asked, or rewrote the run's recipe; each is one line now, before anything is loaded or written.
/// </summary>
public class TrainRunFolderTests
{
    [Fact]
    public void A_folder_another_process_trains_in_is_refused_for_a_new_run_and_for_a_resume_naming_that_process()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        CliRunner.TrainTiny(run);
        string recipe = File.ReadAllText(Path.Combine(run, "recipe.json"));
        using var other = FolderLockTests.HeldElsewhere(run, "pid 31946 on vm since 2026-12-05 23:24:33 UTC");
        string refusal = $"parnet train: {run}: another process is training in this folder (pid 31946 on vm since 2026-12-05 23:24:33 UTC; " +
                         "it holds .parnet-lock there): wait for it to end, or give this run another folder";
        var resumed = CliRunner.Run("train", "--resume", run, "--epochs", "2");
        CliRunner.AssertUserError(resumed, refusal);   // it said "resuming" and trained into the other's folder
        string fresh = dir.File("fresh");
        Directory.CreateDirectory(fresh);
        using var another = FolderLockTests.HeldElsewhere(fresh, "pid 31947 on vm since 2026-12-05 23:24:40 UTC");
        var started = CliRunner.Run("train", "--subset", "5", "--test-subset", "1", "--epochs", "1", "--width", "8", "--out", fresh);
        CliRunner.AssertUserError(started, $"parnet train: {fresh}: another process is training in this folder (pid 31947");   // before its first checkpoint, nothing else told
        Assert.Equal([FolderLock.FileName], Directory.GetFileSystemEntries(fresh).Select(Path.GetFileName));
        Assert.Equal(recipe, File.ReadAllText(Path.Combine(run, "recipe.json")));
        Assert.Equal(1, Checkpoint.ReadState(Checkpoint.In(run)).Epoch);
        other.Kill();
        another.Kill();
    }

    [Fact]
    public void A_resume_is_refused_another_folder_and_fewer_epochs_than_it_trained_and_its_files_stay_as_they_were()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        var trained = CliRunner.Run("train", "--subset", "5", "--test-subset", "1", "--epochs", "2", "--width", "8", "--out", run);
        Assert.True(trained.Code == 0, trained.Err + trained.Out);
        string recipe = File.ReadAllText(Path.Combine(run, "recipe.json"));
        var written = File.GetLastWriteTimeUtc(Checkpoint.In(run));

        string branch = dir.File("branch");
        CliRunner.AssertUserError(CliRunner.Run("train", "--resume", run, "--epochs", "3", "--out", branch),
            $"parnet train: --out {branch} with --resume: a resumed run goes on in its own folder ({run}); to branch it, copy that folder and resume the copy");
        Assert.False(Directory.Exists(branch));
        // it said "the run has already trained its 1 epochs: nothing to do (resume with --epochs N, more than 1, ...)" and
        // rewrote recipe.json and the checkpoint with 1 epoch
        CliRunner.AssertUserError(CliRunner.Run("train", "--resume", run, "--epochs", "1"),
            $"parnet train: {Checkpoint.In(run)}: the run has trained 2 epochs, more than a recipe of --epochs 1 holds: resume with --epochs 2 to finish it, or more to train further");
        var again = CliRunner.Run("train", "--resume", run);
        Assert.True(again.Code == 0, again.Err + again.Out);
        Assert.Contains("\nthe run has already trained its 2 epochs: nothing to do", again.Out.ReplaceLineEndings("\n"));
        Assert.DoesNotContain("resume: nothing trains", again.Out);   // no option given with it
        Assert.Equal(recipe, File.ReadAllText(Path.Combine(run, "recipe.json")));
        Assert.Equal(written, File.GetLastWriteTimeUtc(Checkpoint.In(run)));   // its checkpoint not written again
        Assert.Equal((2, 2), (Checkpoint.ReadState(Checkpoint.In(run)).Epoch, Checkpoint.ReadState(Checkpoint.In(run)).Recipe.Epochs));

        // options given to a resume that trains nothing: its recipe.json had said --lr 0.5 and --label-smoothing 0.3, which the
        // run never trained with, and run.json the new test subset (session 39)
        string settings = File.ReadAllText(Path.Combine(run, RunSettings.FileName));
        var changed = CliRunner.Run("train", "--resume", run, "--lr", "0.5", "--label-smoothing", "0.3", "--test-subset", "2");
        Assert.True(changed.Code == 0, changed.Err + changed.Out);
        Assert.Contains("\nthe run has already trained its 2 epochs: nothing to do", changed.Out.ReplaceLineEndings("\n"));
        Assert.Contains("\nresume: nothing trains, so --lr, --label-smoothing, --test-subset are not applied; the run's files keep how it trained\n",
                        changed.Out.ReplaceLineEndings("\n"));   // its header had stated them as the run's (a resume audit of session 44)
        Assert.Contains(": 2 epochs; last test top-1", changed.Out);
        Assert.Equal(recipe, File.ReadAllText(Path.Combine(run, "recipe.json")));
        Assert.Equal(settings, File.ReadAllText(Path.Combine(run, RunSettings.FileName)));
        Assert.Equal(written, File.GetLastWriteTimeUtc(Checkpoint.In(run)));
    }

    /// <summary>A resume refused once the trainer was built (EMA asked of a run that trained without) had first rewritten
    /// run.json and recipe.json with its options: the next plain resume trained on its --subset 6, 60 images where the run had
    /// 50 (a defect hunt of session 44). Refused before anything is written now, with the setting that resumes it.</summary>
    [Fact]
    public void A_resume_refused_for_ema_leaves_the_run_files_as_they_were_and_says_how_to_resume()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        CliRunner.TrainTiny(run);
        string recipe = File.ReadAllText(Path.Combine(run, "recipe.json")), settings = File.ReadAllText(Path.Combine(run, RunSettings.FileName));
        CliRunner.AssertUserError(CliRunner.Run("train", "--resume", run, "--epochs", "2", "--subset", "6", "--ema-decay", "0.9"),
            $"parnet train: {Checkpoint.In(run)}: --ema-decay 0.9, but the run trained without an average of its weights (no ema.safetensors " +
            "in its checkpoint): resume with --ema-decay 0, or start a new run with it");
        Assert.Equal(recipe, File.ReadAllText(Path.Combine(run, "recipe.json")));
        Assert.Equal(settings, File.ReadAllText(Path.Combine(run, RunSettings.FileName)));
        var resumed = CliRunner.Run("train", "--resume", run, "--epochs", "2");
        Assert.True(resumed.Code == 0, resumed.Err + resumed.Out);
        Assert.Contains(" 50 train / ", resumed.Out);   // the run's own subset of 5 a class
    }
}
