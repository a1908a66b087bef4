using TorchSharp;
using ParNet.Models;
using static TorchSharp.torch;

namespace ParNet.Inference;

/// <summary>
/// Runs a <see cref="ParNetModel"/> (trained or fused) with its streams executing concurrently on the CPU,
/// the paper's stream-parallel inference (Table 3) with threads in place of GPUs:
///   the caller's thread runs inits.0, inits.1, ... in order; as soon as inits.i is done, stream i starts on
///   its own worker thread (streams share no modules, and a forward only reads them); the caller joins all
///   workers and runs the fusion (downsamples_2, combine) and the head. Outputs equal the sequential forward.
///
/// Threads. libtorch's intra-op pool size (torch.set_num_threads) is process-wide bookkeeping, but with the
/// OpenMP backend of the TorchSharp-cpu build each OS thread keeps its own count once it has run an op.
/// Our choice: each worker sets ITS OWN count to <see cref="ThreadsPerStream"/> (default: cores / streams,
/// at least 1: 1 on the 2-core build machine, so 3 streams never oversubscribe with 3 x 2 OpenMP threads);
/// the caller's thread keeps its count (inits and fusion use every core), and the process-wide default is
/// put back after the join so threads created later are unaffected. ThreadsPerStream 0 leaves all counts alone.
/// Grad mode is thread-local in libtorch: workers inherit the caller's (no_grad stays no_grad).
/// The model must be in the mode wanted (eval for inference) and not be modified while a forward runs.
/// </summary>
public sealed class StreamParallelExecutor
{
    public StreamParallelExecutor(ParNetModel model, int? threadsPerStream = null)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        int threads = threadsPerStream ?? Math.Max(1, Environment.ProcessorCount / model.Streams);
        if (threads < 0) throw new ArgumentException($"threadsPerStream must be >= 0 (0: leave thread counts alone); got {threads}");
        ThreadsPerStream = threads;
    }

    public ParNetModel Model { get; }

    /// <summary>Intra-op threads of each stream's worker; 0 leaves libtorch's setting alone.</summary>
    public int ThreadsPerStream { get; }

    /// <summary>Logits [N, classes], as <c>Model.call(x)</c>.</summary>
    public Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Model.CheckInput(x);
        Model.EnsureCorrectConvolutions();
        int processDefault = get_num_threads();
        var streamOutputs = StreamWorkers.Run(Model, x, scope, (stream, input) =>
            {
                if (ThreadsPerStream > 0) set_num_threads(ThreadsPerStream);
                return Model.RunStream(stream, input);
            },
            afterJoin: () => { if (ThreadsPerStream > 0) set_num_threads(processDefault); });
        return Model.forward_head(Model.MergeStreams(streamOutputs)).MoveToOuterDisposeScope();
    }
}
