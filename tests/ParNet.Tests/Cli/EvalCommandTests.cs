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
}
