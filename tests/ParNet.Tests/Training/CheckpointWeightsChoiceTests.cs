using ParNet.Tests.Data;
using ParNet.Training;

namespace ParNet.Tests.Training;

public class CheckpointWeightsChoiceTests
{
    static string MakeCheckpoint(TempDirectory dir, bool ema)
    {
        string path = dir.File("last");
        Directory.CreateDirectory(path);
        foreach (var file in new[] { Checkpoint.StateFile, Checkpoint.WeightsFile, Checkpoint.OptimizerFile })
            File.WriteAllText(Path.Combine(path, file), "");   // Locate looks for the files, not into them
        if (ema) File.WriteAllText(Path.Combine(path, Checkpoint.EmaFile), "");
        return path;
    }

    [Fact]
    public void A_run_that_averaged_weights_is_scored_with_them_by_default_and_its_model_weights_are_not_its_default()
    {
        using var dir = new TempDirectory();
        string ckpt = MakeCheckpoint(dir, ema: true);
        Assert.Equal(new Checkpoint.ChosenWeights(Path.Combine(ckpt, "ema.safetensors"), true, true), Checkpoint.ChooseWeights(ckpt));
        Assert.Equal(new Checkpoint.ChosenWeights(Path.Combine(ckpt, "model.safetensors"), false, false), Checkpoint.ChooseWeights(ckpt, ema: false));
    }

    [Fact]
    public void A_run_without_EMA_gives_its_model_weights_and_refuses_EMA_ones_by_name()
    {
        using var dir = new TempDirectory();
        string ckpt = MakeCheckpoint(dir, ema: false);
        Assert.Equal(new Checkpoint.ChosenWeights(Path.Combine(ckpt, "model.safetensors"), false, true), Checkpoint.ChooseWeights(ckpt));
        var e = Assert.Throws<FileNotFoundException>(() => Checkpoint.ChooseWeights(ckpt, ema: true));
        Assert.Equal($"{Path.Combine(ckpt, "ema.safetensors")} not found: the run trained without EMA", e.Message);
    }

    [Fact]
    public void The_report_folder_names_what_was_scored_and_keeps_long_class_lists_short()
    {
        var plain = new EvalReportFolder();
        Assert.Equal(Path.Combine("r", "eval-last"), plain.InRun("r", "last"));
        Assert.Equal(Path.Combine("runs", "eval-20261204-230102"), plain.ForWeights(new DateTime(2026, 12, 4, 23, 1, 2)));
        var scored = new EvalReportFolder { ImageSize = 64, Flip = true, Split = "train", SubsetPerClass = 5, Classes = ("0-4", [0, 1, 2, 3, 4]), NotTheRunsDefaultWeights = true };
        Assert.Equal(Path.Combine("r", "eval-best-64px-flip-train-subset5-classes0-4-noema"), scored.InRun("r", "best"));
        int[] many = Enumerable.Range(0, 30).ToArray();
        string name = new EvalReportFolder { Classes = (string.Join(",", many), many) }.InRun("r", "last");
        Assert.Matches(@"eval-last-30classes-[0-9a-f]{8}$", name);
    }
}
