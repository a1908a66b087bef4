using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ParNet.Runtime;

/// <summary>
/// bfloat16 training as autocast does it: convolutions, activations and the linear layer in bfloat16, every BatchNorm in
/// float32 (weights, biases and running statistics; libtorch normalizes a bfloat16 input with float32 parameters and
/// answers bfloat16). bfloat16 keeps 8 bits of mantissa: running statistics updated by 10% steps and per-channel scales
/// lose most of theirs, and the first all-bfloat16 fashion-mnist run diverged at step 240 (RESULTS.md).
/// </summary>
public static class MixedPrecision
{
    /// <summary>The module in bfloat16 except its BatchNorm layers, in place.</summary>
    public static void ToBFloat16(nn.Module module)
    {
        module.to(ScalarType.BFloat16);
        foreach (var (_, child) in module.named_modules())
            if (child is BatchNorm2d norm) norm.to(ScalarType.Float32);
    }
}
