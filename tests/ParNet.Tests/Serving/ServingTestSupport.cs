using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using SkiaSharp;
using ParNet.Cli;
using ParNet.Data;
using ParNet.Export;
using ParNet.Models;
using ParNet.Serving;
using ParNet.Tests.Export;
using ParNet.Weights;

namespace ParNet.Tests.Serving;

/// <summary>Models, images and HTTP helpers of the serving tests. Servers listen on 127.0.0.1, port 0 (the OS picks).</summary>
static class ServingTestSupport
{
    /// <summary>A tiny Fashion-MNIST-shaped ParNet (grey, 10 classes) with random weights and a sidecar naming the data set.</summary>
    public static string TinyFashionWeights(ExportTempFolder folder, long seed = 21)
    {
        var config = ModelRegistry.Get("parnet_cifar_small") with { Planes = [8, 16, 32], FinalWidth = 32, BlocksPerStream = [1, 1, 1], InChannels = 1 };
        using var model = ModelFactory.Create(config);
        ExportTestSupport.Randomize(model, seed);
        using (TorchSharp.torch.no_grad())   // a sharper head: default-initialized logits are near 0, every image near 10% a class
            foreach (var linear in model.modules().OfType<TorchSharp.Modules.Linear>()) linear.weight!.mul_(30);
        model.eval();
        string weights = folder.File("fm.safetensors");
        StateDict.Save(model, weights);
        new DeploymentInfo { Model = config, Dataset = "fashion-mnist" }.WriteSidecar(weights);
        return weights;
    }

    /// <summary>The served model exactly as `parnet serve` opens it (<see cref="PredictorLoading"/>).</summary>
    public static ServedModel Open(string weights, string engine = "torch", int workers = 1)
    {
        var predictors = Enumerable.Range(0, workers).Select(_ => PredictorLoading.Open(weights, null, PredictorLoading.Engine(weights, engine), ParNet.Export.NetworkForm.FusedWhereFusable, false, null)).ToList();
        var (preprocessing, names) = PredictorLoading.Preprocessing(predictors[0], null, null);
        return ServedModel.FromPredictors(predictors, preprocessing, names);
    }

    public static ServingOptions Loopback(MicroBatcherOptions? batching = null) =>
        new() { Host = "127.0.0.1", Port = 0, Batching = batching ?? new MicroBatcherOptions() };

    public static async Task<InferenceServer> StartReadyAsync(ServedModel model, ServingOptions options)
    {
        var server = await InferenceServer.StartAsync(model, options);
        for (int i = 0; i < 1000 && !server.Ready; i++)
        {
            Assert.Null(server.WarmupError);
            await Task.Delay(10);
        }
        Assert.True(server.Ready, "the server did not warm up within 10 s");
        return server;
    }

    public static HttpClient Client(InferenceServer server) => new() { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>A PNG of <paramref name="size"/> x <paramref name="size"/> whose pixels depend on <paramref name="seed"/>.</summary>
    public static byte[] Png(int size, int seed)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                byte v = (byte)((x * (3 + seed) + y * (5 + 2 * seed) + seed * 37) % 256);
                bitmap.SetPixel(x, y, new SKColor(v, (byte)(255 - v), (byte)(v / 2)));
            }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    public static ByteArrayContent Raw(byte[] bytes, string? contentType)
    {
        var content = new ByteArrayContent(bytes);
        if (contentType is not null) content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);   // parameters too (boundary=...)
        return content;
    }

    public static MultipartFormDataContent Form(params (byte[] Bytes, string Name)[] files)
    {
        var form = new MultipartFormDataContent();
        foreach (var (bytes, name) in files)
        {
            var part = new ByteArrayContent(bytes);
            part.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            form.Add(part, "image", name);
        }
        return form;
    }

    /// <param name="expectContinue">send the body only once the server asks for it (Expect: 100-continue, as curl does for large
    /// uploads): a body the server refuses by its Content-Length is then never sent. Without it, the server's 413 races the
    /// client still writing, and the connection the server closes may be reset before the client reads the answer.</param>
    public static async Task<(HttpStatusCode Status, JsonElement Json, HttpResponseMessage Response)> PostAsync(
        HttpClient client, string path, HttpContent content, bool expectContinue = false)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        request.Headers.ExpectContinue = expectContinue;
        var response = await client.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    /// <summary>(class, probability) of a JSON "top" array.</summary>
    public static List<(int Class, string Name, double Probability)> Top(JsonElement top) => top.EnumerateArray()
        .Select(t => (t.GetProperty("class").GetInt32(), t.GetProperty("name").GetString()!, t.GetProperty("probability").GetDouble())).ToList();
}

/// <summary>
/// A stand-in model for the server's plumbing: the class is the image's mean brightness in tenths, probability 0.9; it
/// can hold its calls at a gate (overload, shutdown) or sleep (timeouts), and records its batch sizes.
/// </summary>
sealed class FakeClassifier : IBatchClassifier
{
    readonly ManualResetEventSlim _gate;
    public TimeSpan Delay { get; init; }
    /// <summary>Thrown by every call when set: a model that cannot run at all.</summary>
    public Exception? Failure { get; init; }
    /// <summary>The images whose answer is NaN, as from a model whose weights hold NaN (null: none).</summary>
    public Func<ImageF, bool>? AnswersNaN { get; init; }
    /// <summary>The images whose call throws <see cref="InvalidOperationException"/> "the fake model failed" (null: none).</summary>
    public Func<ImageF, bool>? ThrowsOn { get; init; }
    public List<int> BatchSizes { get; } = [];
    public int Calls { get { lock (BatchSizes) return BatchSizes.Count; } }

    public FakeClassifier(bool held = false) => _gate = new ManualResetEventSlim(!held);

    public void Release() => _gate.Set();

    /// <summary>From now on, calls wait at the gate until <see cref="Release"/>.</summary>
    public void Hold() => _gate.Reset();

    /// <summary>Forgets the batches seen so far (the warm-up's).</summary>
    public void ClearHistory() { lock (BatchSizes) BatchSizes.Clear(); }

    public float[][] Probabilities(IReadOnlyList<ImageF> images)
    {
        lock (BatchSizes) BatchSizes.Add(images.Count);
        if (!_gate.Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException("the test never released the fake model");
        if (Delay > TimeSpan.Zero) Thread.Sleep(Delay);
        if (Failure is not null) throw Failure;
        if (ThrowsOn is not null && images.Any(ThrowsOn)) throw new InvalidOperationException("the fake model failed");
        return images.Select(image =>
        {
            if (AnswersNaN?.Invoke(image) == true) return Enumerable.Repeat(float.NaN, 10).ToArray();
            int cls = Math.Clamp((int)(image.Data.Average() * 10), 0, 9);
            var p = Enumerable.Repeat(0.1f / 9, 10).ToArray();
            p[cls] = 0.9f;
            return p;
        }).ToArray();
    }

    public void Dispose() { }

    public static ServedModel Model(params FakeClassifier[] instances) => new()
    {
        Description = "fake",
        ClassNames = Enumerable.Range(0, 10).Select(i => $"brightness {i}").ToArray(),
        Preprocess = (bytes, name, maxPixels) => ImageFolderDataset.Decode(bytes, name, 0, maxPixels),
        Instances = instances,
    };
}
