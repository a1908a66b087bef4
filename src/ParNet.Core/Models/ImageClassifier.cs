using ParNet.Runtime;
using ParNet.Models.Blocks;
using ParNet.Models.Tracing;
using static TorchSharp.torch;

namespace ParNet.Models;

/// <summary>Every network of the registry: images [N, C, H, W] in, logits [N, classes] out.</summary>
public abstract class ImageClassifier : nn.Module<Tensor, Tensor>
{
    protected ImageClassifier(string name, ModelConfig config) : base(name)
    {
        Config = config.Detached();   // what the network was built from, whatever the caller later writes into its arrays
        _oneDnnCheck = new(() => (OneDnnConvolutionCheck.NeedsOneDnnOff(this, out var example), example));
    }

    public ModelConfig Config { get; private set; }

    /// <summary>The classifier: global pool, dropout, linear.</summary>
    protected abstract ClassifierHead Head { get; }

    /// <summary>
    /// timm's reset_classifier(num_classes): replaces the classifier, in place, with a new randomly initialised one for
    /// <paramref name="numClasses"/> classes; everything before it is kept. <see cref="Config"/> then says the new count.
    /// To build a model with another class count from weights, <c>ParNet.Training.Pretrained.CreateModel</c> does both at once.
    /// </summary>
    public void ResetClassifier(int numClasses)
    {
        ThrowIfDisposed("take a new classifier");
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "a classifier needs at least one class");
        Head.Reset(numClasses);
        Config = Config with { NumClasses = numClasses };
    }

    /// <summary>Everything up to the classifier's global pool: [N, FinalWidth, h, w]. The input is checked as
    /// <see cref="forward"/> checks it, and the intermediate maps are freed: only the result is left to the caller.</summary>
    public Tensor forward_features(Tensor x)
    {
        using var scope = NewDisposeScope();
        return Checked(x, static (m, x) => m.Features(x)).MoveToOuterDisposeScope();
    }

    /// <summary><see cref="forward_features"/> on an input already checked, its intermediates left to the caller's scope.</summary>
    protected abstract Tensor Features(Tensor x);

    /// <summary>Global pool, dropout, linear.</summary>
    public Tensor forward_head(Tensor features) => forward_head(features, preLogits: false);

    /// <summary>timm's forward_head(x, pre_logits): with <paramref name="preLogits"/>, the pooled features [N, FinalWidth]
    /// the classifier would read (embeddings), else the logits.</summary>
    public Tensor forward_head(Tensor features, bool preLogits)
    {
        ArgumentNullException.ThrowIfNull(features);
        ThrowIfDisposed();
        long width = Head.Fc.in_features;
        if (features.dim() != 4 || features.shape[1] != width)
            throw new ArgumentException($"{Config.Name}: forward_head expects features [N, {width}, h, w]; got a tensor of shape " +
                                        $"[{string.Join(", ", features.shape)}] (it takes forward_features' output)");
        using var scope = NewDisposeScope();
        return (preLogits ? Head.PreLogits(features) : Head.call(features)).MoveToOuterDisposeScope();
    }

    /// <summary>The levels <see cref="ForwardIntermediates"/> returns, finest first: for detection backbones (the
    /// paper's YOLO experiment) and feature pyramids.</summary>
    public abstract IReadOnlyList<FeatureInfo> FeatureInfo { get; }

    /// <summary>The feature map of every <see cref="FeatureInfo"/> level for <paramref name="x"/>, finest first; the last
    /// is <see cref="forward_features"/>'s output, the tensor the classifier pools. Checked and freed as there.</summary>
    public IReadOnlyList<Tensor> ForwardIntermediates(Tensor x)
    {
        using var scope = NewDisposeScope();
        var levels = Checked(x, static (m, x) => m.Intermediates(x));
        foreach (var level in levels) level.MoveToOuterDisposeScope();
        return levels;
    }

    /// <summary><see cref="ForwardIntermediates"/> on an input already checked.</summary>
    protected abstract IReadOnlyList<Tensor> Intermediates(Tensor x);

    /// <summary>State-dict key prefix of the classifier (timm's default_cfg "classifier"): what fine-tuning replaces
    /// with a new one for another class count.</summary>
    public const string ClassifierKeyPrefix = "head.fc.";

    /// <summary>Key prefixes of the stem: the blocks that read the image.</summary>
    public abstract IReadOnlyList<string> StemKeyPrefixes { get; }

    /// <summary>Key prefixes of the parallel streams with their entry blocks (stem included), everything before the
    /// streams are merged; empty for a network without streams.</summary>
    public abstract IReadOnlyList<string> StreamKeyPrefixes { get; }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return Checked(x, static (m, x) => m.Head.call(m.Features(x))).MoveToOuterDisposeScope();
    }

    /// <summary>What every entry point does first (<see cref="CheckInput"/>, <see cref="EnsureCorrectConvolutions"/>), then
    /// <paramref name="body"/> on the checked input; libtorch's failure on an input of another type than the weights is
    /// named as that. A static lambda: no delegate is allocated per call.</summary>
    T Checked<T>(Tensor x, Func<ImageClassifier, Tensor, T> body)
    {
        CheckInput(x);
        EnsureCorrectConvolutions();
        try { return body(this, x); }
        catch (System.Runtime.InteropServices.ExternalException e) when (OfAnotherType(x) is { } weights) { throw InputTypeError(x, weights, e); }
    }

    /// <summary>The weights' type when <paramref name="x"/> is of another: asked only once libtorch has failed, whose words
    /// for it ("expected scalar type Double but found Float", then ~28 native frames) read backwards to a caller whose input
    /// was the Double.</summary>
    ScalarType? OfAnotherType(Tensor x) => parameters().FirstOrDefault()?.dtype is { } weights && weights != x.dtype ? weights : null;

    ArgumentException InputTypeError(Tensor x, ScalarType weights, Exception e) =>
        // a model of integers is no fix for an integer input (it was offered: a library audit of session 47)
        new($"{Config.Name}: the input is {x.dtype}, the weights {weights}: x.to(ScalarType.{weights})" +
            (x.is_floating_point() ? $", or the model to {x.dtype}" : ""), e);

    /// <summary>Some conv has a width libtorch's oneDNN gets wrong and no exact path in <see cref="Convolutions"/> (see
    /// <see cref="LibTorchWorkarounds"/>): false for every network of the registry.</summary>
    public bool NeedsOneDnnOff => _oneDnnCheck.Value.Needed;

    /// <summary>The first conv found with such a width, for messages.</summary>
    public string? OneDnnOffReason => _oneDnnCheck.Value.Example;

    readonly Lazy<(bool Needed, string? Example)> _oneDnnCheck;

    /// <summary>
    /// Turns oneDNN off (process-wide, for the rest of the process) if this model needs it; returns the
    /// reason when it did. Called by every forward pass; the check itself is done once per model.
    /// </summary>
    public string? EnsureCorrectConvolutions()
    {
        if (!NeedsOneDnnOff || !LibTorchWorkarounds.OneDnnEnabled) return null;
        LibTorchWorkarounds.OneDnnEnabled = false;
        return $"oneDNN convolutions turned off: {OneDnnOffReason} is not a multiple of {LibTorchWorkarounds.SafeChannelMultiple} " +
               "channels, and libtorch 2.10's oneDNN computes such convolutions wrongly (see LibTorchWorkarounds)";
    }

    /// <summary>The symbolic graph of this network for one image of the given size.</summary>
    public abstract LayerGraph Trace(int height, int width);

    /// <summary>Rejects inputs the network cannot take, with a message that says why.</summary>
    public void CheckInput(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        ThrowIfDisposed();
        CheckInputShape(x.shape);
    }

    /// <summary>A disposed network's weights are freed: libtorch would answer "Tensor invalid -- empty handle", naming nothing,
    /// and a state dict of it is empty (saved, it was a 10-byte file). <paramref name="use"/>: what it cannot do ("be saved").</summary>
    internal void ThrowIfDisposed(string use = "run again")
    {
        if (_disposed) throw new ObjectDisposedException(null, $"{Config.Name} was disposed: its weights are freed, so it cannot {use}");   // no object name: a one-line message
    }

    bool _disposed;

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        base.Dispose(disposing);
    }

    public void CheckInputShape(long[] shape)
    {
        if (shape.Length != 4)
            throw new ArgumentException($"{Config.Name}: expects images [N, C, H, W]; got a tensor of shape [{string.Join(", ", shape)}]");
        if (shape[1] != Config.InChannels)
            throw new ArgumentException($"{Config.Name}: expects {Config.InChannels} input channel(s); got {shape[1]}");
        CheckImageSize(shape[2], shape[3]);
    }

    public void CheckImageSize(long height, long width) => Config.CheckImageSize(height, width);
}
