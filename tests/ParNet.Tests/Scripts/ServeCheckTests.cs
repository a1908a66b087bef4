using System.Text.Json;
using ParNet.Tests.Cli;
using ParNet.Tests.Export;
using ParNet.Tests.Serving;

namespace ParNet.Tests.Scripts;

/// <summary>
/// scripts/serve_check.py, which checks on a lent GPU machine that `parnet serve` and `parnet predict` answer alike
/// (scripts/gpu-device.sh): here against a real CPU server and real `predict --json` output, and against answers changed
/// on purpose, which it must call a mismatch (exit 1).
/// </summary>
public class ServeCheckTests
{
    static (int Code, string Stdout, string Stderr) Run(params string[] arguments) => PythonScript.Run("serve_check.py", arguments);

    /// <summary>`predict --json` output with the given (class, probability) list as its one image's top.</summary>
    static string PredictJson(ExportTempFolder folder, string name, params (int Class, double Probability)[] top)
    {
        string path = folder.File(name);
        File.WriteAllText(path, JsonSerializer.Serialize(new[]
        {
            new { file = "x.png", top = top.Select(t => new { @class = t.Class, name = $"class {t.Class}", probability = t.Probability }) },
        }));
        return path;
    }

    [Fact]
    public void Compare_matches_within_its_tolerance_and_exits_1_on_another_order_or_a_larger_difference()
    {
        using var folder = new ExportTempFolder();
        string a = PredictJson(folder, "a.json", (3, 0.5), (1, 0.3), (7, 0.1));
        string close = PredictJson(folder, "close.json", (3, 0.5004), (1, 0.2998), (7, 0.1));
        string reordered = PredictJson(folder, "reordered.json", (1, 0.5), (3, 0.3), (7, 0.1));
        string far = PredictJson(folder, "far.json", (3, 0.503), (1, 0.3), (7, 0.1));

        var same = Run("--compare", a, close);
        Assert.True(same.Code == 0, same.Stdout + same.Stderr);
        Assert.Contains("largest probability difference 4.0e-04: match", same.Stdout);
        var swapped = Run("--compare", a, reordered);
        Assert.Equal(1, swapped.Code);
        Assert.Contains("same classes in order False", swapped.Stdout);
        var apart = Run("--compare", a, far);
        Assert.Equal(1, apart.Code);
        Assert.Contains("MISMATCH", apart.Stdout);
    }

    [Fact]
    public async Task Against_a_real_server_every_answer_matches_predict_and_a_changed_expectation_does_not()
    {
        using var folder = new ExportTempFolder();
        string weights = ServingTestSupport.TinyFashionWeights(folder);
        string image = folder.File("shirt.png");
        File.WriteAllBytes(image, ServingTestSupport.Png(28, seed: 5));
        var predicted = CliRunner.Run("predict", "--weights", weights, "--json", image);
        Assert.True(predicted.Code == 0, predicted.Err);
        string expect = folder.File("predict.json");
        File.WriteAllText(expect, predicted.Out);
        var top = ExportCliTests.Top(predicted.Out);
        top.Reverse();
        string wrong = PredictJson(folder, "wrong.json", [.. top]);

        using var serve = new ServeProcess("--weights", weights);
        string url = (await serve.AddressAsync()).ToString().TrimEnd('/');
        var check = Run("--url", url, "--image", image, "--requests", "3", "--label", "cpu", "--expect", expect);
        Assert.True(check.Code == 0, check.Stdout + check.Stderr);
        Assert.Matches(@"^\| cpu \| 3 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| all match \| ", check.Stdout);
        var mismatch = Run("--url", url, "--image", image, "--requests", "2", "--label", "cpu", "--expect", wrong);
        Assert.Equal(1, mismatch.Code);
        Assert.Contains("| MISMATCH |", mismatch.Stdout);
        serve.Terminate();
        Assert.Equal(0, await serve.ExitCodeAsync());
    }
}
