using ParNet.Data;
using ParNet.Export;
using ParNet.Fusion;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Tests.Models;

namespace ParNet.Tests.Inference;

/// <summary>
/// A predictor shared by a service's threads, then disposed (library audit, session 39): ONNX Runtime's session checks
/// nothing, so a prediction after Dispose, or a Dispose while another thread predicted, ended the process with SIGSEGV; the
/// torch engines threw "Tensor invalid -- empty handle" mid-prediction. Now Dispose waits for the predictions inside, and a
/// prediction after it is an ObjectDisposedException naming the model.
/// </summary>
public class PredictorDisposeTests
{
    static ImagePredictor Open(string engine)
    {
        using var trained = OfficialParityTests.TrainedTinyModel();
        var model = ParNetFuser.Fuse(trained);
        if (engine == "onnxruntime")
            using (model) return ImagePredictor.ForOnnxRuntime(model, new DeploymentInfo(), side: 64);   // the caller keeps the model
        return engine == "torch-winograd" ? ImagePredictor.ForTorchWinograd(model, new DeploymentInfo())   // the predictor owns it
            : ImagePredictor.ForTorch(model, new DeploymentInfo());
    }

    static ImageF Image(int seed)
    {
        var random = new Random(seed);
        return new ImageF(Enumerable.Range(0, 3 * 64 * 64).Select(_ => (float)random.NextDouble()).ToArray(), 3, 64, 64);
    }

    [Theory]
    [InlineData("onnxruntime")]
    [InlineData("torch")]
    [InlineData("torch-winograd")]
    public void Predictions_on_several_threads_match_serial_ones_and_a_dispose_among_them_ends_each_with_object_disposed(string engine)
    {
        var predictor = Open(engine);
        var images = Enumerable.Range(0, 4).Select(Image).ToArray();
        var serial = images.Select(predictor.Probabilities).ToArray();
        var failures = new System.Collections.Concurrent.ConcurrentBag<Exception>();
        int predictions = 0;
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            try
            {
                for (int i = 0; ; i++)
                {
                    var p = predictor.Probabilities(images[(t + i) % 4]);
                    Assert.Equal(serial[(t + i) % 4], p);   // the same as alone, bit for bit
                    Interlocked.Increment(ref predictions);
                }
            }
            catch (Exception e) { failures.Add(e); }
        })).ToList();
        threads.ForEach(t => t.Start());
        SpinWait.SpinUntil(() => Volatile.Read(ref predictions) >= 20, TimeSpan.FromSeconds(60));
        predictor.Dispose();
        threads.ForEach(t => t.Join());
        Assert.True(predictions >= 20, $"{predictions} predictions");
        Assert.Equal(4, failures.Count);   // each thread ended at the Dispose, and only there
        Assert.All(failures, e => Assert.Equal("the predictor of parnet_official_tiny_silu was disposed: open it again to use it",
                                               Assert.IsType<ObjectDisposedException>(e).Message));   // one line, no "Object name: '...'" after it
        Assert.Throws<ObjectDisposedException>(() => predictor.Probabilities(images[0]));
        predictor.Dispose();   // twice: nothing more to free
    }
}
