using System.Runtime.CompilerServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ParNet.Runtime;

/// <summary>
/// The Winograd weights of a model's 3x3 stride-1 convs (<see cref="WinogradConvolution.Applies"/>), for inference. While
/// the plan is alive, each of its convs that is called through <c>Models.Blocks.Convolutions</c> (every conv of our blocks;
/// it asks <see cref="TryConvolve"/>) runs as <see cref="WinogradConvolution"/> when called without autograd on a float32
/// channels_last CPU input; anything else (training, an NCHW input, bfloat16) takes the direct conv as before.
/// A plan is a snapshot of the weights, like an ONNX export: a conv whose weight or bias parameter was replaced since
/// <see cref="For"/> runs directly again, but values changed in place (an optimizer step, a state-dict load) are not seen:
/// dispose the plan and make a new one. The model is not changed and needs no mode.
/// <code>
/// MemoryFormat.ToChannelsLast(fused);                 // fused: ParNetFuser.Fuse(trained), eval mode
/// using var plan = WinogradPlan.For(fused);
/// using var mode = inference_mode();
/// var logits = fused.call(MemoryFormat.ToChannelsLast(images));
/// </code>
/// </summary>
public sealed class WinogradPlan : IDisposable
{
    /// <summary>The transformed weight and the bias of one conv, with the parameters they were made from.</summary>
    sealed record Entry(WinogradConvolution.Weight Weight, Tensor Bias, Tensor SourceWeight, Tensor? SourceBias, WinogradPlan Plan);

    static readonly ConditionalWeakTable<Conv2d, Entry> Planned = new();
    static int _livePlans;   // with none, a conv's call skips the table

    readonly List<(Conv2d Conv, Entry Entry)> _entries = [];
    int _disposed;
    long _calls;

    WinogradPlan() { }

    /// <summary>Transforms the weights of every conv of <paramref name="model"/> that Winograd computes. Throws where the CPU
    /// has no AVX2/FMA, or where a conv of the model is already in a live plan.</summary>
    public static WinogradPlan For(nn.Module model)
    {
        if (!WinogradConvolution.IsSupported)
            throw new PlatformNotSupportedException(WinogradConvolution.UnsupportedReason + "; run the direct convolutions (no plan)");
        var plan = new WinogradPlan();
        try
        {
            using var noGrad = no_grad();
            foreach (var conv in model.modules().Prepend(model).OfType<Conv2d>().Where(WinogradConvolution.Applies))
            {
                var weight = WinogradConvolution.TransformWeight(conv.weight!, conv.groups);
                var bias = (conv.bias is { } b ? b.detach().clone() : zeros(conv.out_channels)).DetachFromDisposeScope();
                var entry = new Entry(weight, bias, conv.weight!, conv.bias, plan);
                if (!Planned.TryAdd(conv, entry))
                {
                    weight.Dispose(); bias.Dispose();
                    throw new InvalidOperationException("a conv of this model is already in a live Winograd plan; dispose that plan first");
                }
                plan._entries.Add((conv, entry));
            }
        }
        catch
        {
            plan.Release();
            throw;
        }
        Interlocked.Increment(ref _livePlans);
        return plan;
    }

    /// <summary>How many convs the plan computes as Winograd.</summary>
    public int Convolutions => _entries.Count;

    /// <summary>Conv calls computed as Winograd since the plan was made (what a caller checks to see that it ran).</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>The conv of a live plan on a float32 channels_last CPU input without autograd: its Winograd output, with
    /// <paramref name="bias"/> in place of the conv's own when given. Otherwise false, and the caller runs the conv.</summary>
    public static bool TryConvolve(Conv2d conv, Tensor x, Tensor? bias, out Tensor y)
    {
        y = null!;
        // cheapest first: with no plan alive (training) one read; with one (a bench run), other convs stop at the table
        if (Volatile.Read(ref _livePlans) == 0 || !Planned.TryGetValue(conv, out var entry) || is_grad_enabled()) return false;
        if (x.dtype != ScalarType.Float32 || x.device_type != DeviceType.CPU || !MemoryFormat.IsChannelsLast(x)) return false;
        if (!ReferenceEquals(conv.weight, entry.SourceWeight) || !ReferenceEquals(conv.bias, entry.SourceBias)) return false;   // replaced since
        y = WinogradConvolution.Convolve(x, entry.Weight, bias ?? entry.Bias);
        Interlocked.Increment(ref entry.Plan._calls);
        return true;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Release();
        Interlocked.Decrement(ref _livePlans);
    }

    void Release()
    {
        foreach (var (conv, entry) in _entries)
        {
            Planned.Remove(conv);
            entry.Weight.Dispose();
            entry.Bias.Dispose();
        }
        _entries.Clear();
    }
}
