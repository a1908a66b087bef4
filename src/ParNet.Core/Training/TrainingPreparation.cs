using ParNet.Models;
using ParNet.Runtime;
using static TorchSharp.torch;

namespace ParNet.Training;

/// <summary>
/// What training does to a model before its first step and to each batch before the forward pass (bfloat16 with float32
/// BatchNorms, channels_last), in one place so the trainer and `parnet train-bench` time the same computation.
/// </summary>
public static class TrainingPreparation
{
    public static void Model(ImageClassifier model, bool bfloat16, bool channelsLast)
    {
        if (bfloat16) MixedPrecision.ToBFloat16(model);
        if (channelsLast) MemoryFormat.ToChannelsLast(model);
    }

    public static Tensor Input(Tensor images, bool bfloat16, bool channelsLast)
    {
        var x = bfloat16 ? images.to(ScalarType.BFloat16) : images;
        return channelsLast ? MemoryFormat.ToChannelsLast(x) : x;
    }
}
