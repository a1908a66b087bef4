using System.Text.Json;
using ParNet.Tests.Data;

namespace ParNet.Tests.Cli;

public class EmaOfRunCheckpointTests
{
    /// <summary>`--ema` on a run checkpoint's model.safetensors was refused ("a .safetensors file holds one set of weights")
    /// with the EMA weights beside it (style review, session 29); it now reads them, as --ema reads a timm .pth.tar's
    /// state_dict_ema.</summary>
    [Fact]
    public void Ema_on_a_run_checkpoints_model_weights_reads_the_EMA_weights_beside_them()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run"), image = dir.File("x.png");
        var train = CliRunner.Run("train", "--width", "8", "--subset", "2", "--test-subset", "1", "--epochs", "1", "--ema-decay", "0.5",
                                  "--threads", "1", "--workers", "0", "--out", run);
        Assert.True(train.Code == 0, train.Err);
        // its scores are the EMA weights', which the other commands take with --ema only (a run exported without it shipped others)
        Assert.EndsWith("\nthe test scores are the EMA weights' (ema.safetensors beside each checkpoint's model.safetensors): " +
                        "give --ema to predict, serve, fuse, convert and export for the weights scored\n", train.Out.ReplaceLineEndings("\n"));
        File.WriteAllBytes(image, ParNet.Tests.Serving.ServingTestSupport.Png(28, 3));
        string last = Path.Combine(run, "checkpoints", "last");

        float[] Probabilities(params string[] args)
        {
            var result = CliRunner.Run(["predict", .. args, "--json", "--top", "10", image]);
            Assert.True(result.Code == 0, result.Err);
            return JsonDocument.Parse(result.Out).RootElement[0].GetProperty("top").EnumerateArray()
                .OrderBy(t => t.GetProperty("class").GetInt32()).Select(t => t.GetProperty("probability").GetSingle()).ToArray();
        }
        var asked = Probabilities("--weights", Path.Combine(last, "model.safetensors"), "--ema");
        var ema = Probabilities("--weights", Path.Combine(last, "ema.safetensors"));
        var model = Probabilities("--weights", Path.Combine(last, "model.safetensors"));
        Assert.Equal(ema, asked);
        Assert.NotEqual(model, asked);   // the two sets differ after a step at decay 0.5, or this test could not tell them apart
    }

    /// <summary>A run without EMA weights: --ema on its model.safetensors said "a timm training checkpoint (.pth.tar) holds
    /// them ..." (review, session 29); it names the file that is missing, as `eval --run --ema` does.</summary>
    [Fact]
    public void Ema_on_the_model_weights_of_a_run_without_EMA_names_the_missing_file()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run"), image = dir.File("x.png");
        var train = CliRunner.Run("train", "--width", "8", "--subset", "2", "--test-subset", "1", "--epochs", "1",
                                  "--threads", "1", "--workers", "0", "--out", run);
        Assert.True(train.Code == 0, train.Err);
        Assert.DoesNotContain("EMA", train.Out);
        File.WriteAllBytes(image, ParNet.Tests.Serving.ServingTestSupport.Png(28, 3));
        string last = Path.GetFullPath(Path.Combine(run, "checkpoints", "last"));
        CliRunner.AssertUserError(CliRunner.Run("predict", "--weights", Path.Combine(last, "model.safetensors"), "--ema", image),
                                  $"{Path.Combine(last, "ema.safetensors")} not found: the run trained without EMA");
    }
}
