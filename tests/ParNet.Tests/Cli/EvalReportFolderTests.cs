using ParNet.Tests.Data;

namespace ParNet.Tests.Cli;

/// <summary>`parnet eval --run`'s default report folder names what was evaluated, so one evaluation does not replace another's report.</summary>
public class EvalReportFolderTests
{
    [Fact]
    public void A_subset_or_the_training_weights_of_an_ema_run_get_their_own_report_folder()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        var trained = CliRunner.Run("train", "--subset", "1", "--test-subset", "1", "--epochs", "1", "--width", "4", "--ema", "0.9", "--threads", "1", "--out", run);   // --ema: --ema-decay's older name, as RESULTS' commands give it
        Assert.True(trained.Code == 0, trained.Err + trained.Out);

        // before: all three wrote RUN/eval-last, each replacing the last one's summary.json, which names neither weights nor images
        foreach (var args in new[] { new[] { "--subset", "2" }, ["--subset", "2", "--ema", "false"], ["--classes", "0-9"] })
        {
            var evaluated = CliRunner.Run(["eval", "--run", run, "--threads", "1", .. args]);
            Assert.True(evaluated.Code == 0, evaluated.Err + evaluated.Out);
        }
        Assert.True(File.Exists(Path.Combine(run, "eval-last-subset2", "summary.json")));
        Assert.True(File.Exists(Path.Combine(run, "eval-last-subset2-noema", "summary.json")));
        Assert.True(File.Exists(Path.Combine(run, "eval-last-classes0-9", "summary.json")));
        Assert.False(Directory.Exists(Path.Combine(run, "eval-last")));

        // and summary.json names the weights' file and bytes it scored (it named neither: audit, session 42); --weights W
        // --ema scores the EMA file beside a run checkpoint's model.safetensors
        string last = Path.Combine(run, "checkpoints", "last"), model = Path.Combine(last, "model.safetensors"), ema = Path.Combine(last, "ema.safetensors");
        var byWeights = CliRunner.Run("eval", "--weights", model, "--ema", "--subset", "2", "--threads", "1", "--out", dir.File("by-weights"));
        Assert.True(byWeights.Code == 0, byWeights.Err + byWeights.Out);
        foreach (var (report, file) in new[] { ("eval-last-subset2", ema), ("eval-last-subset2-noema", model), (dir.File("by-weights"), ema) })
        {
            using var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(run, report, "summary.json")));
            var scored = summary.RootElement.GetProperty("Scored");
            Assert.Equal(Path.GetFullPath(file), scored.GetProperty("Weights").GetString());
            Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file))), scored.GetProperty("WeightsSha256").GetString());
            Assert.Equal(("fashion-mnist", "test", "TorchSharp"), (scored.GetProperty("Dataset").GetString(), scored.GetProperty("Split").GetString(), scored.GetProperty("Engine").GetString()));
            Assert.Equal([1, 32, 32], scored.GetProperty("ImageShape").EnumerateArray().Select(e => e.GetInt32()));
        }
        Assert.NotEqual(File.ReadAllBytes(model), File.ReadAllBytes(ema));   // the two hashes above tell the two files apart
    }

    [Fact]
    public void Another_data_folder_gets_its_own_report_folder()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        var trained = CliRunner.Run("train", "--subset", "1", "--test-subset", "1", "--epochs", "1", "--width", "4", "--threads", "1", "--out", run);
        Assert.True(trained.Code == 0, trained.Err + trained.Out);
        // the same images through another folder (its files linked): before, both wrote RUN/eval-last-subset2
        string system = ParNet.Data.DataLocations.ResolveFashionMnist(null), other = dir.File("other-data");
        Directory.CreateDirectory(other);
        foreach (var file in Directory.GetFiles(system)) File.CreateSymbolicLink(Path.Combine(other, Path.GetFileName(file)), file);
        Assert.Equal(0, CliRunner.Run("eval", "--run", run, "--threads", "1", "--subset", "2").Code);
        Assert.Equal(0, CliRunner.Run("eval", "--run", run, "--threads", "1", "--subset", "2", "--data", other).Code);
        Assert.True(File.Exists(Path.Combine(run, "eval-last-subset2", "summary.json")));
        Assert.True(File.Exists(Path.Combine(run, $"eval-last-subset2-{ParNet.Training.EvalReportFolder.DataFolderPart(other)}", "summary.json")));
        Assert.Matches("^data-[0-9a-f]{8}$", ParNet.Training.EvalReportFolder.DataFolderPart(other));
    }

    [Fact]
    public void An_out_that_cannot_be_a_folder_is_named_as_the_out_option()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run"), file = dir.File("a-file");
        var trained = CliRunner.Run("train", "--subset", "1", "--test-subset", "1", "--epochs", "1", "--width", "4", "--threads", "1", "--out", run);
        Assert.True(trained.Code == 0, trained.Err + trained.Out);
        File.WriteAllText(file, "");
        // it evaluated every image first, then said only "The file '...' already exists." (walk E)
        CliRunner.AssertUserError(CliRunner.Run("eval", "--run", run, "--threads", "1", "--out", file), $"--out {file}: cannot write the report there");
        CliRunner.AssertUserError(CliRunner.Run("eval", "--run", run, "--threads", "1", "--out", Path.Combine(file, "sub")),
                                  $"--out {Path.Combine(file, "sub")}: cannot write the report there");
    }
}
