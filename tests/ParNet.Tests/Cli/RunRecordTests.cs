using System.Diagnostics;
using ParNet.Data;
using ParNet.Tests.Data;
using ParNet.Training;

namespace ParNet.Tests.Cli;

/// <summary>What a run folder says of how it was trained (reproducibility audit, session 42): the data folder found by
/// default, and a seed that a resume may not change.</summary>
public class RunRecordTests
{
    /// <summary>run.json said "DataDirectory": null when Fashion-MNIST was found by default, and data/fashion-mnist under the
    /// working folder comes before the system copy: the same command from another folder trained on other files, with the
    /// same run.json. The folder found is recorded and named in the run's first line.</summary>
    [Fact]
    public void A_new_run_records_the_fashion_mnist_folder_it_found_under_its_working_folder()
    {
        string system = DataLocations.SystemFashionMnist;
        Assert.True(IdxReader.HasSplit(system, train: true), $"this test needs Fashion-MNIST in {system}: bash scripts/install-data.sh");
        using var dir = new TempDirectory();
        string local = Path.Combine(dir.Path, "data", "fashion-mnist");
        Directory.CreateDirectory(local);
        foreach (var file in Directory.GetFiles(system)) File.CreateSymbolicLink(Path.Combine(local, Path.GetFileName(file)), file);
        var (trained, stdout, stderr) = Parnet(dir.Path, "train", "--subset", "5", "--test-subset", "1", "--epochs", "1", "--width", "8", "--warmup", "0",
                                              "--threads", "1", "--out", "run");
        Assert.True(trained == 0, stderr + stdout);
        var settings = RunSettings.Load(Path.Combine(dir.Path, "run"))!;
        Assert.Equal((local, null), (settings.DataFolderFound, settings.DataDirectory));   // found, not given: a copied run searches again
        Assert.Contains($" on fashion-mnist (from {local}) 1x32x32", stdout);
        // and eval's summary.json says the folder it read, found as train found it (it said null: README walk, session 48)
        var (scored, _, evalErr) = Parnet(dir.Path, "eval", "--run", "run", "--subset", "1", "--threads", "1");
        Assert.True(scored == 0, evalErr);
        string summary = Assert.Single(Directory.GetFiles(Path.Combine(dir.Path, "run"), "summary.json", SearchOption.AllDirectories));
        Assert.Equal(local, System.Text.Json.JsonDocument.Parse(File.ReadAllText(summary)).RootElement.GetProperty("Scored").GetProperty("DataFolder").GetString());

        // resumed from another working folder, where the search finds the system copy: said, with how to read the same files
        string elsewhere = Path.Combine(dir.Path, "elsewhere");
        Directory.CreateDirectory(elsewhere);
        var (code, resumedOut, resumedErr) = Parnet(elsewhere, "train", "--resume", Path.Combine(dir.Path, "run"), "--epochs", "2");
        Assert.True(code == 0, resumedErr + resumedOut);
        Assert.Contains($"parnet train: warning: the run read Fashion-MNIST from {local}; from this working folder it is found in {system}, " +
                        $"which goes on now: give --data {local} to train on the same files\n", resumedErr.ReplaceLineEndings("\n"));
        Assert.Equal(system, RunSettings.Load(Path.Combine(dir.Path, "run"))!.DataFolderFound);   // what the run read last
    }

    /// <summary>recipe.json kept the preset's model, width and prose ("w=16 ... 8 epochs") over a run of --width 8 and one
    /// epoch (a left item of session 44): it records the network trained and says which values differ from the preset, anew
    /// on a resume.</summary>
    [Fact]
    public void The_runs_recipe_records_the_network_trained_and_the_values_changed_from_the_preset()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        CliRunner.TrainTiny(run, "--threads", "1");   // --epochs 1 --width 8
        var recipe = Recipe.FromJson(File.ReadAllText(Path.Combine(run, "recipe.json")));
        Assert.Equal(("parnet_cifar_small", (int?)8), (recipe.Model, recipe.Width));
        Assert.Equal(Recipes.FashionMnist.Description + "; changed from the preset: Width 8, Epochs 1", recipe.Description);

        var resumed = CliRunner.Run("train", "--resume", run, "--epochs", "2", "--threads", "1", "--workers", "0");
        Assert.True(resumed.Code == 0, resumed.Err + resumed.Out);
        Assert.Equal(Recipes.FashionMnist.Description + "; changed from the preset: Width 8, Epochs 2",
                     Recipe.FromJson(File.ReadAllText(Path.Combine(run, "recipe.json"))).Description);

        // fine-tuned from those weights without --width: the network is the one stored with them, at its own width
        string tuned = dir.File("tuned");
        var fineTuned = CliRunner.Run("train", "--pretrained", Path.Combine(run, "checkpoints", "last", Checkpoint.WeightsFile), "--subset", "5",
                                      "--test-subset", "1", "--epochs", "1", "--threads", "1", "--workers", "0", "--out", tuned);
        Assert.True(fineTuned.Code == 0, fineTuned.Err + fineTuned.Out);
        var tunedRecipe = Recipe.FromJson(File.ReadAllText(Path.Combine(tuned, "recipe.json")));
        Assert.Equal(("parnet_cifar_small_w8", (int?)null), (tunedRecipe.Model, tunedRecipe.Width));
        Assert.Equal(Recipes.FashionMnist.Description + "; changed from the preset: Model parnet_cifar_small_w8, Epochs 1", tunedRecipe.Description);
    }

    internal static (int Code, string Out, string Err) Parnet(string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "parnet.dll") }.Concat(args)) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.Result);
    }

    /// <summary>`--resume DIR --seed 7` trained the remaining epochs on other --subset images, and recipe.json then named seed
    /// 7 for the whole run: refused; the run's own seed given again is no change.</summary>
    [Fact]
    public void A_resume_under_another_seed_is_refused()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        CliRunner.TrainTiny(run, "--warmup", "0", "--threads", "1");
        CliRunner.AssertUserError(CliRunner.Run("train", "--resume", run, "--epochs", "2", "--seed", "7"),
            "--seed 7 with --resume: the run trains with seed 0 (it draws the subset's images and every epoch's order and augmentation); " +
            "to train under seed 7, start a new run (--seed 7 --out OTHER)");
        Assert.Equal(0, Recipe.FromJson(File.ReadAllText(Path.Combine(run, "recipe.json"))).Seed);
        var same = CliRunner.Run("train", "--resume", run, "--epochs", "2", "--seed", "0");
        Assert.True(same.Code == 0, same.Err);
    }

    /// <summary>Nothing in a run folder said which code, machine or command trained it: commands.log has a line for each
    /// start and resume, the command as typed (a path with a space quoted as a shell takes it back).</summary>
    [Fact]
    public void Every_start_and_resume_is_logged_with_the_version_cpu_threads_and_command()
    {
        using var dir = new TempDirectory();
        string run = dir.File("my run");
        CliRunner.TrainTiny(run, "--warmup", "0", "--threads", "1");
        var resumed = CliRunner.Run("train", "--resume", run, "--epochs", "2");
        Assert.True(resumed.Code == 0, resumed.Err);
        var lines = File.ReadAllLines(Path.Combine(run, ParNet.Cli.RunCommandsLog.FileName));
        Assert.Equal(2, lines.Length);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ parnet \d+\.\d+\.\d+\S*; cpu: .+; 1 thread x 1 process; parnet train ", lines[0]);
        Assert.EndsWith($"; parnet train --subset 5 --test-subset 1 --epochs 1 --width 8 --warmup 0 --threads 1 --out '{run}'", lines[0]);
        Assert.EndsWith($"; 1 thread x 1 process; parnet train --resume '{run}' --epochs 2", lines[1]);   // the run's --threads, from run.json
        Assert.Contains(ParNet.Runtime.CpuCapabilities.Current.Describe(), lines[1]);
    }
}
