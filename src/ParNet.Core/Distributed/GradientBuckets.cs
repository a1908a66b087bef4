using TorchSharp;
using static TorchSharp.torch;

namespace ParNet.Distributed;

/// <summary>
/// Averages the gradients of every process after a backward pass, as PyTorch's DistributedDataParallel does:
/// parameters are grouped into contiguous buckets (in reverse registration order, the order backward finishes
/// them), each bucket's gradients are flattened into one buffer, summed across processes by ONE all-reduce,
/// divided by the number of processes and copied back. A parameter without a gradient contributes zeros, so
/// every process reduces the same shapes.
/// TorchSharp 0.107 has no tensor gradient hooks (Tensor.register_hook; only module forward hooks exist), so a
/// bucket cannot be started while backward still runs: all buckets are reduced after backward (no overlap).
/// </summary>
public sealed class GradientBuckets
{
    /// <summary>25 MiB per bucket: DDP's default bucket_cap_mb, few calls per step and a bounded extra buffer.</summary>
    public const long DefaultBucketBytes = 25L << 20;

    readonly IProcessGroup _group;
    readonly List<TorchSharp.Modules.Parameter[]> _buckets = new();

    public GradientBuckets(IEnumerable<TorchSharp.Modules.Parameter> parameters, IProcessGroup group, long bucketBytes = DefaultBucketBytes)
    {
        if (bucketBytes <= 0) throw new ArgumentOutOfRangeException(nameof(bucketBytes));
        _group = group;
        var current = new List<TorchSharp.Modules.Parameter>();
        long bytes = 0;
        foreach (var p in parameters.Where(p => p.requires_grad).Reverse())
        {
            long size = p.numel() * 4;
            if (current.Count > 0 && bytes + size > bucketBytes)
            {
                _buckets.Add(current.ToArray());
                current.Clear();
                bytes = 0;
            }
            current.Add(p);
            bytes += size;
        }
        if (current.Count > 0) _buckets.Add(current.ToArray());
        BytesPerStep = _buckets.Sum(b => b.Sum(p => p.numel())) * 4;
    }

    /// <summary>Parameters per bucket, in reduction order.</summary>
    public IReadOnlyList<int> BucketSizes => _buckets.Select(b => b.Length).ToList();

    /// <summary>Bytes each process all-reduces per step (float32 gradients).</summary>
    public long BytesPerStep { get; }

    /// <summary>Replaces every gradient by its mean over the processes (nothing to do for one process).</summary>
    public void Average()
    {
        if (_group.Size == 1) return;
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using Scalar processes = (double)_group.Size;
        foreach (var bucket in _buckets)
        {
            var flat = cat(bucket.Select(p => p.grad is { } g ? g.to(ScalarType.Float32).reshape(-1) : zeros(p.numel(), ScalarType.Float32)).ToArray());
            _group.AllReduceSum(flat);
            flat.div_(processes);
            long offset = 0;
            foreach (var p in bucket)
            {
                long n = p.numel();
                var mean = flat.narrow(0, offset, n).view(p.shape);
                offset += n;
                if (p.grad is { } g) g.copy_(mean);
                else p.grad = mean.to(p.dtype).clone().DetachFromDisposeScope();
            }
        }
    }
}
