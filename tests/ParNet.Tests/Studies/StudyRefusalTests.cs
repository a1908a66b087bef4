using System.Text.Json;
using ParNet.Runtime;
using ParNet.Studies;
using ParNet.Tests.Cli;
using ParNet.Tests.Data;

namespace ParNet.Tests.Studies;

/// <summary>
/// A study's refusals name the library's settings (StudySettings.Seeds, Run's directory), not `parnet study`'s options: a
/// program that calls the library never gave --seeds or --out. The command words the same refusals with its options.
/// </summary>
public class StudyRefusalTests
{
    [Theory]
    [InlineData(0, 6, 1000, 500, null, "StudySettings.Seeds", "StudySettings.Seeds = 0: at least 1 (3 give the spread the verdicts need)")]
    [InlineData(3, 0, 1000, 500, null, "StudySettings.Epochs", "StudySettings.Epochs = 0: at least 1")]
    [InlineData(3, 6, -1, 500, null, "StudySettings.SubsetPerClass", "StudySettings.SubsetPerClass = -1: at least 1 image per class")]
    [InlineData(3, 6, 5, 500, null, "StudySettings.SubsetPerClass",
                "StudySettings.SubsetPerClass = 5: 50 training images are fewer than one batch of 128: nothing would train")]
    [InlineData(3, 6, 1000, 0, null, "StudySettings.TestSubsetPerClass", "StudySettings.TestSubsetPerClass = 0: at least 1 image per class")]
    [InlineData(3, 6, 1000, 500, 0L, "StudySettings.StopAfterSteps", "StudySettings.StopAfterSteps = 0: at least 1")]
    public void Settings_no_study_can_train_with_are_refused_by_their_API_names(int seeds, int epochs, int subset, int testSubset, long? steps,
                                                                                string setting, string message)
    {
        var settings = StudySettings.Small with
        {
            Seeds = seeds, Epochs = epochs, SubsetPerClass = subset, TestSubsetPerClass = testSubset, StopAfterSteps = steps,
        };
        var e = Assert.Throws<InvalidSettingException>(settings.Validate);
        Assert.Equal((message, setting), (e.Message, e.ParamName));
    }

    [Fact]
    public void A_folder_that_holds_another_study_is_refused_before_anything_trains()
    {
        using var dir = new TempDirectory();
        WriteStudyJson(dir.Path, "streams", "any grid", StudySettings.Small);
        var e = Assert.Throws<InvalidSettingException>(() => StudyRunner.Run(StudyCatalog.Get("depth"), StudySettings.Small, dir.Path));
        Assert.Equal(($"{dir.Path} holds the study 'streams', not 'depth': use another directory", "directory"), (e.Message, e.ParamName));
        CliRunner.AssertUserError(CliRunner.Run("study", "depth", "--out", dir.Path, "--results", dir.File("results")),
            $"parnet study: {dir.Path} holds the study 'streams', not 'depth': use another --out");
    }

    [Fact]
    public void A_folder_with_another_grid_or_other_settings_and_a_finished_cell_is_refused()
    {
        using var dir = new TempDirectory();
        var depth = StudyCatalog.Get("depth");
        Directory.CreateDirectory(dir.File("cell"));
        File.WriteAllText(dir.File(Path.Combine("cell", "cell.json")), "{}");   // a finished cell: the folder's settings hold
        WriteStudyJson(dir.Path, "depth", "another grid", StudySettings.Small);
        Assert.Equal($"{dir.Path} holds 'depth' with another grid of cells (made by another version of parnet): use another directory",
            Assert.Throws<InvalidSettingException>(() => StudyRunner.Run(depth, StudySettings.Small, dir.Path)).Message);

        WriteStudyJson(dir.Path, "depth", depth.GridHash(), StudySettings.Small with { Seeds = 1 });
        Assert.Equal($"{dir.Path} holds 'depth' with other settings (1 seed, 6 epochs, subset 1000, test subset 500; " +
                     "here 3 seeds, 6 epochs, subset 1000, test subset 500): continue it with those, or use another directory",
            Assert.Throws<InvalidSettingException>(() => StudyRunner.Run(depth, StudySettings.Small, dir.Path)).Message);
        CliRunner.AssertUserError(CliRunner.Run("study", "depth", "--out", dir.Path, "--results", dir.File("results")),
            $"parnet study: {dir.Path} holds 'depth' with other settings (1 seed, 6 epochs, subset 1000, test subset 500; " +
            "here 3 seeds, 6 epochs, subset 1000, test subset 500): continue it with those, or use another --out");
    }

    [Fact]
    public void A_folder_whose_cell_has_started_training_keeps_its_settings()
    {
        // a cell stopped in its third epoch and resumed with --epochs 2 --subset 13 trained its first epoch on 1000 images
        // of a 3-epoch schedule and its second on 130 of a 2-epoch one, and the report gave the new settings only
        using var dir = new TempDirectory();
        var depth = StudyCatalog.Get("depth");
        string cell = dir.File(Path.Combine("depth-9", "seed-0", "checkpoints", "last"));
        Directory.CreateDirectory(cell);
        File.WriteAllText(Path.Combine(cell, "state.json"), "{}");   // a checkpoint, no cell.json: started, not finished
        WriteStudyJson(dir.Path, "depth", depth.GridHash(), StudySettings.Small with { Seeds = 1 });
        Assert.StartsWith($"{dir.Path} holds 'depth' with other settings (1 seed,",
            Assert.Throws<InvalidSettingException>(() => StudyRunner.Run(depth, StudySettings.Small, dir.Path)).Message);
        Assert.Contains("\"Seeds\":1", File.ReadAllText(dir.File("study.json")));   // not rewritten
    }

    /// <summary>A study.json as <see cref="StudyRunner"/> writes it: the study, its grid, its settings.</summary>
    static void WriteStudyJson(string folder, string study, string gridHash, StudySettings settings) =>
        File.WriteAllText(Path.Combine(folder, "study.json"), JsonSerializer.Serialize(new { Study = study, GridHash = gridHash, Settings = settings }));
}
