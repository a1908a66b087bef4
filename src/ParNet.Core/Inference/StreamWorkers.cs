using TorchSharp;
using ParNet.Models;
using static TorchSharp.torch;

namespace ParNet.Inference;

/// <summary>
/// The launch-and-join both stream executors share: inits.0, inits.1, ... run in order on the caller's thread, and
/// as soon as inits.i is done stream i starts on its own worker thread (in the caller's grad mode, which libtorch
/// keeps per thread); all workers are joined before anything can free their inputs, whatever failed.
/// </summary>
internal static class StreamWorkers
{
    /// <param name="runStream">stream index, its input -> its output (on the worker thread)</param>
    /// <returns>the stream outputs, owned by <paramref name="scope"/></returns>
    public static Tensor[] Run(ParNetModel model, Tensor x, DisposeScope scope, Func<int, Tensor, Tensor> runStream)
    {
        bool gradEnabled = is_grad_enabled();
        var workers = new Task<Tensor>[model.Streams];
        try
        {
            var h = x;
            for (int i = 0; i < model.Streams; i++)
            {
                h = model.RunInit(i, h);
                int stream = i;
                var input = h;
                workers[i] = Task.Factory.StartNew(() =>
                {
                    using var gradMode = enable_grad(gradEnabled);
                    using var workerScope = NewDisposeScope();
                    return runStream(stream, input).MoveToOuterDisposeScope();
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            }
        }
        finally
        {
            foreach (var w in workers) ((IAsyncResult?)w)?.AsyncWaitHandle.WaitOne();
        }
        var outputs = workers.Select(w => w.GetAwaiter().GetResult()).ToArray();   // rethrows a worker's exception as is
        scope.Attach(outputs);
        return outputs;
    }
}
