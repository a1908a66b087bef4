using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ParNet.Training;
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
    public void A_table_to_judge_again_must_be_a_studys_table_with_every_cell()
    {
        using var dir = new TempDirectory();
        string notTable = dir.File("metrics.csv"), broken = dir.File("broken.csv"), partial = dir.File("partial.csv");
        File.WriteAllText(notTable, "epoch,train_loss\n1,0.5\n");
        const string header = "cell,seed,top1,parameters,depth,fused_latency_ms,train_seconds,onednn_off\n";
        File.WriteAllText(broken, header + "depth-9,0,0.87,1,9,1.0,1.0,false\n\ndepth-9,1,eighty,1,9,1.0,1.0,false\n");   // line 4, after a blank one
        File.WriteAllText(partial, header + "depth-9,0,0.87,1,9,1.0,1.0,false\n");
        CliRunner.AssertUserError(CliRunner.Run(["study", "depth", "--judge", notTable]), $"{notTable}: not a study's table: its first line is not \"cell,seed,");
        // a missing table in the words of every missing file (it was .NET's "Could not find file '/full/path'")
        CliRunner.AssertUserError(CliRunner.Run(["study", "depth", "--judge", dir.File("nothere.csv")]), $"parnet study: study table not found: {dir.File("nothere.csv")}");
        CliRunner.AssertUserError(CliRunner.Run(["study", "depth", "--judge", broken]), $"{broken}, line 4: ");
        File.WriteAllText(broken, header + "depth-9,0,NaN,1,9,1.0,1.0,false\n");
        CliRunner.AssertUserError(CliRunner.Run(["study", "depth", "--judge", broken]), $"{broken}, line 2: top-1 NaN is not a fraction in [0, 1]");
        File.WriteAllText(broken, header + "depth-9,0,0.87,1,9,1.0,1.0,false\ndepth-9,0,0.88,1,9,1.0,1.0,false\n");
        CliRunner.AssertUserError(CliRunner.Run(["study", "depth", "--judge", broken]), $"{broken}: cell depth-9 seed 0 appears 2 times");
        File.WriteAllText(broken, header + "depth-9,99999999999,0.87,1,9,1.0,1.0,false\n");
        CliRunner.AssertUserError(CliRunner.Run(["study", "depth", "--judge", broken]), $"{broken}, line 2: ");
        CliRunner.AssertUserError(CliRunner.Run(["study", "depth", "--judge", partial]), $"{partial}: study depth: no runs of cell depth-12");
        CliRunner.AssertUserError(CliRunner.Run(["study", "depth", "--judge", dir.File("absent.csv")]), "absent.csv");
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

    /// <summary>A short study run from the repository wrote its report over the committed results/studies tables and their
    /// hand-written notes, exit 0 (an audit of the studies, session 46): a report of another study folder, or of one it does not
    /// name, is refused before anything trains; the study's own is rewritten.</summary>
    [Fact]
    public void A_report_of_another_study_folder_is_refused_before_anything_trains_and_its_own_is_rewritten()
    {
        using var dir = new TempDirectory();
        var study = StudyCatalog.Get("ensemble");
        var runs = study.Cells.Select(c => new CellRun(c.Name, 0, 0.9, 1000, 12, 1, 60)).ToList();
        string results = dir.File("results"), mine = dir.File("mine"), md = Path.Combine(results, "ensemble.md");
        StudyReport.Write(study, StudySettings.Small with { Seeds = 1 }, runs, null, results, "a machine", "a command", mine);
        Assert.EndsWith($"\nRun folders: `{Path.Combine("..", "mine")}`\n", File.ReadAllText(md));   // relative: a committed report names no checkout
        StudyReport.Write(study, StudySettings.Small with { Seeds = 1 }, runs, null, results, "a machine", "again", mine + "/");   // its own: rewritten
        Assert.Contains("`again`", File.ReadAllText(md));
        var other = Assert.Throws<InvalidSettingException>(() => StudyReport.RequireOwnReport(study, results, dir.File("other")));
        Assert.Equal(StudyReport.DirectorySetting, other.ParamName);
        Assert.Equal($"{md} reports the study in {mine}, which this study's report would replace: give another StudyReport.Write's directory, " +
                     "or move ensemble.md, .csv and .png away first", other.Message);
        File.AppendAllText(md, "\nA note written by hand below the table.\n");   // the run folders' line is no longer the last
        Assert.Contains("whose run folders its last line does not name",
                        Assert.Throws<InvalidSettingException>(() => StudyReport.RequireOwnReport(study, results, mine)).Message);

        File.WriteAllText(md, "# the committed table, with notes written by hand\n");   // an earlier version's report names no folder
        var refused = CliRunner.Run("study", "ensemble", "--seeds", "1", "--epochs", "1", "--subset", "13", "--test-subset", "1", "--threads", "1",
                                    "--out", mine, "--results", results);
        CliRunner.AssertUserError(refused, $"parnet study: {md} reports a study whose run folders its last line does not name (an earlier " +
                                           "version's report, or one with notes added by hand), which this study's report would replace: give another --results, " +
                                           "or move ensemble.md, .csv and .png away first");
        Assert.Equal("# the committed table, with notes written by hand\n", File.ReadAllText(md));
        Assert.False(Directory.Exists(Path.Combine(mine, "parnet")));   // nothing trained
    }

    /// <summary>A cell.json copied from another cell was taken for this cell's (its top-1 reported as this cell's, then a crash
    /// with a stack trace); one that does not parse was refused in the parser's words, naming no file (study audit, session 46).</summary>
    [Fact]
    public void A_cell_record_of_another_cell_or_that_does_not_read_is_refused_naming_the_file()
    {
        using var dir = new TempDirectory();
        var study = StudyCatalog.Get("depth");
        var settings = StudySettings.Small with { Seeds = 1, Epochs = 1, SubsetPerClass = 13, TestSubsetPerClass = 1, StopAfterSteps = 1 };
        string runs = dir.File("runs"), record = Path.Combine(runs, "depth-9", "seed-0", "cell.json");
        Directory.CreateDirectory(Path.GetDirectoryName(record)!);
        File.WriteAllText(record, JsonSerializer.Serialize(new CellRun("depth-15", 1, 0.1, 1, 15, 1, 1)));
        var copied = Assert.Throws<InvalidDataException>(() => StudyRunner.Run(study, settings, runs));
        Assert.Equal($"{record} records depth-15 seed 1, not depth-9 seed 0 (copied from another cell's folder?): delete it to train this cell again", copied.Message);
        File.WriteAllText(record, "{ garbage");
        var garbled = Assert.Throws<InvalidDataException>(() => StudyRunner.Run(study, settings, runs));
        Assert.StartsWith($"{record}: not a finished cell's record (", garbled.Message);
        Assert.EndsWith("): delete it to train this cell again", garbled.Message);
        File.WriteAllText(Path.Combine(runs, "study.json"), "");
        CliRunner.AssertUserError(CliRunner.Run("study", "depth", "--seeds", "1", "--epochs", "1", "--subset", "13", "--test-subset", "1", "--steps", "1",
                                                "--threads", "1", "--out", runs),
                                  $"parnet study: {Path.Combine(runs, "study.json")}: not a study folder's record (");
    }

    /// <summary>A study folder below a path with a "checkpoints" folder in it counted as started, and a corrected command after
    /// a failed start (a wrong --data) was refused as other settings (study audit, session 46).</summary>
    [Fact]
    public void A_study_folder_below_a_checkpoints_folder_that_trained_nothing_takes_new_settings()
    {
        using var dir = new TempDirectory();
        string runs = Path.Combine(dir.File("checkpoints"), "study");
        var depth = StudyCatalog.Get("depth");
        Directory.CreateDirectory(runs);
        WriteStudyJson(runs, "depth", depth.GridHash(), StudySettings.Small with { Seeds = 4 });   // nothing trained there
        var settings = StudySettings.Small with { Seeds = 1, Epochs = 1, SubsetPerClass = 13, TestSubsetPerClass = 1, StopAfterSteps = 1 };
        Assert.Equal(3, StudyRunner.Run(depth, settings, runs).Count);
    }

    /// <summary>Seeds were added to a folder of a version that recorded no recipe: they would train under this version's
    /// recipe beside seeds of an unknown one (review of session 46).</summary>
    [Fact]
    public void Seeds_are_not_added_to_a_folder_of_a_version_that_recorded_no_recipe()
    {
        using var dir = new TempDirectory();
        var depth = StudyCatalog.Get("depth");
        var one = StudySettings.Small with { Seeds = 1 };
        WriteStudyJson(dir.Path, "depth", depth.GridHash(), one, withRecipe: false);
        foreach (var cell in depth.TrainedCells)   // every cell of its one seed finished
        {
            Directory.CreateDirectory(dir.File(Path.Combine(cell.Name, "seed-0")));
            File.WriteAllText(dir.File(Path.Combine(cell.Name, "seed-0", "cell.json")), JsonSerializer.Serialize(new CellRun(cell.Name, 0, 0.5, 1, 12, 1, 1)));
        }
        Assert.Equal($"{dir.Path} holds 'depth' of an older version of parnet, which did not record its training recipe: seeds cannot be added " +
                     "to it: report it with its own seeds, or use another directory",
                     Assert.Throws<InvalidSettingException>(() => StudyRunner.Run(depth, one with { Seeds = 2 }, dir.Path)).Message);
        Assert.DoesNotContain("\"Recipe\"", File.ReadAllText(dir.File("study.json")));   // not rewritten
    }

    /// <summary>The grid of every study without offset cells is what it was before session 46 (its folders resume), and so is
    /// the ensemble's on all the images (--scale full: its members' subsets did not change); on a subset it is another.</summary>
    [Fact]
    public void Grids_are_those_of_earlier_versions_except_the_ensembles_on_a_subset()
    {
        // the values study.json of session 45's binaries recorded
        foreach (var (name, hash) in new[] { ("sse-silu", "3eb9e4b9e9967ad0"), ("block-type", "47b44255cd8bbd9c"), ("streams", "bfedae5dd1b1753b"),
                                             ("depth", "3b4de6d59501986c"), ("scaling", "a9892592a445d1d6") })
        {
            Assert.Equal(hash, StudyCatalog.Get(name).GridHash(subsetDrawn: true));
            Assert.Equal(hash, StudyCatalog.Get(name).GridHash(subsetDrawn: false));
        }
        Assert.Equal("8791434c9633e375", StudyCatalog.Get("ensemble").GridHash(subsetDrawn: false));
        Assert.NotEqual("8791434c9633e375", StudyCatalog.Get("ensemble").GridHash(subsetDrawn: true));
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

        // (more seeds of the same settings are taken: A_study_takes_more_seeds_in_its_folder_training_only_the_new_ones)
        WriteStudyJson(dir.Path, "depth", depth.GridHash(), StudySettings.Small with { Seeds = 4, Epochs = 3 });
        Assert.Equal($"{dir.Path} holds 'depth' with other settings (4 seeds, 3 epochs, subset 1000, test subset 500; " +
                     "here 3 seeds, 6 epochs, subset 1000, test subset 500): continue it with those, or use another directory",
            Assert.Throws<InvalidSettingException>(() => StudyRunner.Run(depth, StudySettings.Small, dir.Path)).Message);
        CliRunner.AssertUserError(CliRunner.Run("study", "depth", "--out", dir.Path, "--results", dir.File("results")),
            $"parnet study: {dir.Path} holds 'depth' with other settings (4 seeds, 3 epochs, subset 1000, test subset 500; " +
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
        WriteStudyJson(dir.Path, "depth", depth.GridHash(), StudySettings.Small with { Seeds = 1, Epochs = 3 });
        Assert.StartsWith($"{dir.Path} holds 'depth' with other settings (1 seed, 3 epochs,",
            Assert.Throws<InvalidSettingException>(() => StudyRunner.Run(depth, StudySettings.Small, dir.Path)).Message);
        Assert.Contains("\"Epochs\":3", File.ReadAllText(dir.File("study.json")));   // not rewritten
    }

    /// <summary>A study.json as <see cref="StudyRunner"/> writes it: the study, its grid, its settings and the fields of its
    /// cells' recipe that train them (by default the recipe a study trains with: fashion-mnist at the study's epochs with a 2 px
    /// shift; not its name, description, model or width).</summary>
    static void WriteStudyJson(string folder, string study, string gridHash, StudySettings settings, Recipe? recipe = null, bool withRecipe = true)
    {
        recipe ??= Recipes.FashionMnist with { Epochs = settings.Epochs, CropPadding = 2 };
        var fields = JsonNode.Parse(recipe.ToJson())!.AsObject();
        foreach (string prose in new[] { "Name", "Description", "Model", "Width" }) fields.Remove(prose);
        File.WriteAllText(Path.Combine(folder, "study.json"), withRecipe
            ? JsonSerializer.Serialize(new { Study = study, GridHash = gridHash, Settings = settings, Recipe = fields })
            : JsonSerializer.Serialize(new { Study = study, GridHash = gridHash, Settings = settings }));
    }

    [Fact]
    public void A_started_folder_of_another_recipe_or_of_a_version_that_recorded_none_is_refused()
    {
        using var dir = new TempDirectory();
        var depth = StudyCatalog.Get("depth");
        Directory.CreateDirectory(dir.File("cell"));
        File.WriteAllText(dir.File(Path.Combine("cell", "cell.json")), "{}");   // a finished cell
        WriteStudyJson(dir.Path, "depth", depth.GridHash(), StudySettings.Small, Recipes.FashionMnist with { Epochs = 6, CropPadding = 2, Lr = 0.05 });
        Assert.Equal($"{dir.Path} holds 'depth' trained with another recipe (Lr 0.05 there, {Recipes.FashionMnist.Lr.ToString(CultureInfo.InvariantCulture)} here; " +
                     "made by another version of parnet): continue it with that version, or use another directory",
            Assert.Throws<InvalidSettingException>(() => StudyRunner.Run(depth, StudySettings.Small, dir.Path)).Message);
        WriteStudyJson(dir.Path, "depth", depth.GridHash(), StudySettings.Small, withRecipe: false);
        Assert.Equal($"{dir.Path} holds 'depth' started by an older version of parnet, which did not record its training recipe: " +
                     "continue it with that version, or use another directory",
            Assert.Throws<InvalidSettingException>(() => StudyRunner.Run(depth, StudySettings.Small, dir.Path)).Message);
        // a recipe's prose is not what trains: another name and description are the same recipe (accepted: the run goes on to
        // its cells, here cancelled at once)
        File.WriteAllText(dir.File("study.json"), JsonSerializer.Serialize(new
        {
            Study = "depth", GridHash = depth.GridHash(), Settings = StudySettings.Small,
            Recipe = JsonNode.Parse((Recipes.FashionMnist with { Epochs = 6, CropPadding = 2, Name = "renamed", Description = "reworded" }).ToJson()),
        }));
        Assert.ThrowsAny<OperationCanceledException>(() => StudyRunner.Run(depth, StudySettings.Small, dir.Path, cancel: new CancellationToken(true)));
        // an older version's folder whose every cell has finished is taken (re-timed and reported; nothing trains again)
        WriteStudyJson(dir.Path, "depth", depth.GridHash(), StudySettings.Small, withRecipe: false);
        foreach (var cell in depth.TrainedCells)
            for (int k = 0; k < StudySettings.Small.Seeds; k++)
            {
                Directory.CreateDirectory(dir.File(Path.Combine(cell.Name, $"seed-{k}")));
                File.WriteAllText(dir.File(Path.Combine(cell.Name, $"seed-{k}", "cell.json")), "{}");
            }
        Assert.ThrowsAny<OperationCanceledException>(() => StudyRunner.Run(depth, StudySettings.Small, dir.Path, cancel: new CancellationToken(true)));
        foreach (var cell in depth.TrainedCells) Directory.Delete(dir.File(cell.Name), recursive: true);
        // with no cell started, the folder is this version's to claim, recipe and all
        File.Delete(dir.File(Path.Combine("cell", "cell.json")));
        WriteStudyJson(dir.Path, "depth", depth.GridHash(), StudySettings.Small with { Seeds = 4 }, Recipes.FashionMnist with { Lr = 0.05 });
        Assert.ThrowsAny<OperationCanceledException>(() => StudyRunner.Run(depth, StudySettings.Small, dir.Path, cancel: new CancellationToken(true)));
        var claimed = JsonNode.Parse(File.ReadAllText(dir.File("study.json")))!;
        Assert.Equal(Recipes.FashionMnist.Lr, claimed["Recipe"]!["Lr"]!.GetValue<double>());
        Assert.Equal(3, claimed["Settings"]!["Seeds"]!.GetValue<int>());
    }
}
