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

    /// <summary>
    /// ArgumentException, with the numbers and the largest batch that can, where a training step of <paramref name="batch"/>
    /// images of <paramref name="height"/> x <paramref name="width"/> surely cannot fit in this machine's memory with
    /// <paramref name="processesHere"/> processes training on it: what backward keeps of the forward pass
    /// (<see cref="Models.Tracing.ForwardMemory.SavedForBackward"/>, a lower bound; half of it in bfloat16). ParNet-S at
    /// 224 px with the ImageNet recipe's batch of 256 needs at least 13 GB, about 31 measured; on a smaller machine the
    /// kernel killed the first step with nothing said (sizes audit, session 38). Not checked where a parameter is frozen
    /// (fine-tuning a head on a frozen backbone: autograd keeps nothing for the frozen layers, so the count would be no
    /// lower bound).
    /// </summary>
    public static void RequireStepFits(ImageClassifier model, int height, int width, int batch, bool bfloat16, int processesHere)
    {
        if (model.parameters().Any(p => !p.requires_grad)) return;
        var saved = Models.Tracing.ForwardMemory.SavedForBackward(model.Trace(height, width));
        if (bfloat16) saved = saved with { BytesPerImage = saved.BytesPerImage / 2 };
        saved.RequireBatchFits(batch, workers: processesHere, model: model.Config.Name, workersAre: "processes on this machine");
    }
}
