using ParNet.Tests.Cli;
using ParNet.Tests.Export;

namespace ParNet.Tests.Serving;

/// <summary>
/// `parnet serve` of an .onnx graph fixed to one batch (exported without a dynamic batch axis): its warm-up batch of
/// max-batch images failed with "exported at a fixed image size" and the server stopped; now the start refuses the
/// max batch it cannot take, in one line, and a max batch of 1 serves it.
/// </summary>
public class FixedBatchOnnxTests
{
    [Fact]
    public void A_graph_fixed_to_batch_one_is_refused_above_max_batch_one_in_one_line()
    {
        using var folder = new ExportTempFolder();
        string one = ForeignOnnxEvalTests.ForeignOnnx(folder, "one.onnx", batch: 1, keepMetadata: true);
        string four = ForeignOnnxEvalTests.ForeignOnnx(folder, "four.onnx", batch: 4, keepMetadata: true);
        CliRunner.AssertUserError(CliRunner.Run("serve", "--weights", one, "--dataset", "cifar10", "--port", "0"),
            "parnet serve: --max-batch 8: parnet_cifar_small (training form, 3x32x32) on onnxruntime takes batches of exactly 1 image (exported without a " +
            "dynamic batch axis), and a server batches 1 to max-batch images: serve it with a max batch of 1");
        CliRunner.AssertUserError(CliRunner.Run("serve", "--weights", four, "--dataset", "cifar10", "--port", "0", "--max-batch", "4"),
            "takes batches of exactly 4 images (exported without a dynamic batch axis), and a server batches 1 to max-batch images: export it with a dynamic batch axis");
    }

    [Fact]
    public async Task A_graph_fixed_to_batch_one_serves_with_max_batch_one()
    {
        using var folder = new ExportTempFolder();
        string one = ForeignOnnxEvalTests.ForeignOnnx(folder, "one.onnx", batch: 1, keepMetadata: true);
        using var serve = new ServeProcess("--weights", one, "--dataset", "cifar10", "--max-batch", "1");
        var address = await serve.AddressAsync();
        using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        var ready = System.Net.HttpStatusCode.ServiceUnavailable;
        for (int i = 0; i < 1000 && ready != System.Net.HttpStatusCode.OK; i++) { ready = (await client.GetAsync("/readyz")).StatusCode; await Task.Delay(20); }
        Assert.Equal(System.Net.HttpStatusCode.OK, ready);
        var (status, json, _) = await ServingTestSupport.PostAsync(client, "/v1/predict", ServingTestSupport.Raw(ServingTestSupport.Png(32, seed: 3), "image/png"));
        Assert.True(status == System.Net.HttpStatusCode.OK, json.ToString());
    }
}
