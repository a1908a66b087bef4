using System.Text.Json;
using SkiaSharp;
using ParNet.Tests.Data;
using ParNet.Tests.Models;

namespace ParNet.Tests.Cli;

/// <summary>What `parnet eval`'s report says of the weights it scored (an audit of fine-tuning and eval, session 45).</summary>
public class EvalCommandTests
{
    static JsonElement Scored(string report) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(report, "summary.json"))).RootElement.GetProperty("Scored").Clone();

    /// <summary>The authors' .pth.tar holds its model and EMA weights in one file: its two evaluations wrote report folders
    /// named alike and summary.json's identical Scored (same file, same hash).</summary>
    [Fact]
    public void A_checkpoints_ema_weights_are_named_in_the_report_folder_and_in_scored()
    {
        using var dir = new TempDirectory();
        string config = dir.File("tiny.json"), data = dir.File("data"), work = dir.File("work");
        File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());   // the authors' network: 1000 classes
        byte[] png = TempDirectory.EncodeImage(8, 8, (x, y) => ((byte)(x * 30), (byte)(y * 30), 90), SKEncodedImageFormat.Png);
        for (int k = 0; k < 1000; k++)
        {
            string folder = Path.Combine(data, "val", $"c{k:D4}");
            Directory.CreateDirectory(folder);
            File.WriteAllBytes(Path.Combine(folder, "0.png"), png);
        }
        Directory.CreateDirectory(work);
        string checkpoint = Fixtures.Path("parnet_official_tiny_silu.timm.pth.tar");
        foreach (var ema in new[] { false, true })
        {
            // out of this process: the default report folder is runs/ in the working directory
            string[] args = ["eval", "--weights", checkpoint, "--config", config, "--dataset", "folder", "--data", data,
                             "--image-size", "32", "--threads", "1", .. (ema ? new[] { "--ema" } : [])];
            var evaluated = RunRecordTests.Parnet(work, args);
            Assert.True(evaluated.Code == 0, evaluated.Err + evaluated.Out);
        }
        var reports = Directory.GetDirectories(Path.Combine(work, "runs")).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(2, reports.Count);
        Assert.Matches(@"^eval-32px-\d{8}-\d{6}$", reports[0]);
        Assert.Matches(@"^eval-32px-ema-\d{8}-\d{6}$", reports[1]);
        var (plain, ofEma) = (Scored(Path.Combine(work, "runs", reports[0]!)), Scored(Path.Combine(work, "runs", reports[1]!)));
        Assert.Equal(plain.GetProperty("WeightsSha256").GetString(), ofEma.GetProperty("WeightsSha256").GetString());   // one file
        Assert.False(plain.GetProperty("Ema").GetBoolean());
        Assert.True(ofEma.GetProperty("Ema").GetBoolean());
    }

    /// <summary>Scored's Fused recorded the --fused switch, not the form loaded: an already-fused file, scored fused, was
    /// recorded as unfused.</summary>
    [Fact]
    public void Fused_weights_are_recorded_as_fused_without_the_switch()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run"), fused = dir.File("fused.safetensors");
        CliRunner.TrainTiny(run, "--threads", "1");
        string weights = Path.Combine(run, "checkpoints", "last", "model.safetensors");
        var fusing = CliRunner.Run("fuse", "--weights", weights, "--out", fused);
        Assert.True(fusing.Code == 0, fusing.Err);
        foreach (var (file, report, expected) in new[] { (weights, "plain", false), (fused, "fused", true) })
        {
            var evaluated = CliRunner.Run("eval", "--weights", file, "--subset", "1", "--threads", "1", "--out", dir.File(report));
            Assert.True(evaluated.Code == 0, evaluated.Err + evaluated.Out);
            Assert.Equal(expected, Scored(dir.File(report)).GetProperty("Fused").GetBoolean());
            Assert.Equal(expected, evaluated.Out.Contains("1x32x32, fused; weights", StringComparison.Ordinal));
        }
        // the default report folder says so too: it was named by the --fused switch (a left item of session 45)
        string work = dir.File("work");
        Directory.CreateDirectory(work);   // out of this process: the default report folder is runs/ in the working directory
        var byDefault = RunRecordTests.Parnet(work, ["eval", "--weights", fused, "--subset", "1", "--threads", "1"]);
        Assert.True(byDefault.Code == 0, byDefault.Err + byDefault.Out);
        Assert.Matches(@"^eval-fused-subset1-\d{8}-\d{6}$", Path.GetFileName(Assert.Single(Directory.GetDirectories(Path.Combine(work, "runs")))));
    }

    /// <summary>A run checkpoint's ema.safetensors given as --weights was recorded as not EMA weights (review, session 45).</summary>
    [Fact]
    public void A_checkpoints_ema_file_given_itself_is_recorded_as_ema_weights()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        CliRunner.TrainTiny(run, "--ema-decay", "0.9", "--threads", "1");
        foreach (var (file, report, expected) in new[] { ("model.safetensors", "model", false), ("ema.safetensors", "ema", true) })
        {
            var evaluated = CliRunner.Run("eval", "--weights", Path.Combine(run, "checkpoints", "last", file), "--subset", "1", "--threads", "1",
                                          "--out", dir.File(report));
            Assert.True(evaluated.Code == 0, evaluated.Err + evaluated.Out);
            Assert.Equal(expected, Scored(dir.File(report)).GetProperty("Ema").GetBoolean());
        }
    }
}
