using TorchSharp;
using static TorchSharp.torch;

namespace ParNet.Inference;

/// <summary>
/// An exported model (float32 or int8) behind the TorchSharp module interface, so that evaluation code written for
/// modules (<see cref="ParNet.Training.Evaluator"/>) scores ONNX Runtime's outputs: forward copies the batch to float32
/// CPU memory, runs the session and returns the logits. No parameters; train/eval mode changes nothing.
/// </summary>
public sealed class OnnxRuntimeModule : nn.Module<Tensor, Tensor>
{
    readonly OnnxRuntimeEngine _engine;

    /// <summary>Takes ownership of <paramref name="engine"/>.</summary>
    public OnnxRuntimeModule(OnnxRuntimeEngine engine) : base(nameof(OnnxRuntimeModule)) => _engine = engine;

    public OnnxRuntimeEngine Engine => _engine;

    public override Tensor forward(Tensor input) => _engine.Run(input);

    protected override void Dispose(bool disposing)
    {
        if (disposing) _engine.Dispose();
        base.Dispose(disposing);
    }
}
