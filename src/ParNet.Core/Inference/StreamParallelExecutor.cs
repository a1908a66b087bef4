using TorchSharp;
using ParNet.Models;
using ParNet.Runtime;
using static TorchSharp.torch;

namespace ParNet.Inference;

/// <summary>
/// Runs a <see cref="ParNetModel"/> (trained or fused) with its streams executing concurrently on the CPU,
/// the paper's stream-parallel inference (Table 3) with threads in place of GPUs:
///   the caller's thread runs inits.0, inits.1, ... in order; as soon as inits.i is done, stream i starts on
///   its own worker thread (streams share no modules, and a forward only reads them); the caller joins all
///   workers and runs the fusion (downsamples_2, combine) and the head. Outputs equal the sequential forward.
///
/// Threads. With the OpenMP backend of the TorchSharp-cpu build each OS thread keeps its own intra-op count. Each
/// worker sets ITS OWN count to <see cref="ThreadsPerStream"/> (default: cores / streams, at least 1: 1 on the 2-core
/// build machine, so 3 streams never oversubscribe with 3 x 2 OpenMP threads) through
/// <see cref="IntraOpThreads.SetForThisThread"/>, which leaves the process-wide count alone (torch.set_num_threads on a
/// worker would hand its count to every thread of the process starting its first op meanwhile; where libtorch's libgomp
/// is not found, that is the fallback, and the caller puts the count back after the join); the caller's thread keeps
/// its count (inits and fusion use every core). ThreadsPerStream 0 leaves all counts alone.
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
        int processCount = get_num_threads();
        Tensor[] streamOutputs;
        try
        {
            streamOutputs = StreamWorkers.Run(Model, x, scope, (stream, input) =>
            {
                if (ThreadsPerStream > 0) IntraOpThreads.SetForThisThread(ThreadsPerStream);
                return Model.RunStream(stream, input);
            });
        }
        finally   // the workers are joined by now, whatever failed
        {
            // where the workers' counts could only be set process-wide (IntraOpThreads' fallback), put it back
            if (ThreadsPerStream > 0 && !IntraOpThreads.ThreadLocal) set_num_threads(processCount);
        }
        return Model.forward_head(Model.MergeStreams(streamOutputs)).MoveToOuterDisposeScope();
    }
}
