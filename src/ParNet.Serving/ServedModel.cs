using ParNet.Models.Tracing;
using ParNet.Data;
using ParNet.Export;
using ParNet.Inference;
using ParNet.Models;
using ParNet.Runtime;

namespace ParNet.Serving;

/// <summary>One model instance as the server's workers see it: a batch of preprocessed images in, probabilities out.</summary>
public interface IBatchClassifier : IDisposable
{
    float[][] Probabilities(IReadOnlyList<ImageF> images);
}

/// <summary>
/// What `parnet serve` serves: the class names, the preprocessing of an upload, and one or more model instances
/// (one per worker; an instance is only ever used by its worker). Owns and disposes the instances.
/// </summary>
public sealed class ServedModel : IDisposable
{
    /// <summary>For the web page and logs, e.g. "parnet_s (fused, 3x224x224) on torch".</summary>
    public required string Description { get; init; }
    public required IReadOnlyList<string> ClassNames { get; init; }
    /// <summary>Encoded image bytes, a name for errors and the pixel limit -> the network input [C, H, W].</summary>
    public required Func<byte[], string, long, ImageF> Preprocess { get; init; }
    public required IReadOnlyList<IBatchClassifier> Instances { get; init; }
    /// <summary>Memory one image takes in a forward pass of one instance, a lower bound; null when unknown (a stand-in
    /// model, a GPU engine): then <see cref="CheckBatchFits"/> checks nothing.</summary>
    public ForwardMemory? MemoryPerImage { get; init; }
    /// <summary>The model served, for a front end's messages; null for a stand-in model.</summary>
    public ModelConfig? Config { get; init; }
    /// <summary>The convs the torch-winograd engine computes as Winograd in each instance (<see cref="WinogradPlan.Convolutions"/>;
    /// 0: none, and it runs as torch); null for the other engines and a stand-in model.</summary>
    public int? WinogradConvolutions { get; init; }
    /// <summary>Whether the images are normalized with guessed statistics (<see cref="DeploymentPreprocessing.StatisticsGuessed"/>).</summary>
    public bool StatisticsGuessed { get; init; }
    /// <summary>The batch the model takes, exactly (<see cref="ImagePredictor.FixedBatch"/>); null when any batch goes.</summary>
    public int? FixedBatch { get; init; }

    /// <summary>
    /// ArgumentException, with the numbers, when batches of <paramref name="maxBatch"/> images, one on every instance at
    /// once (each worker runs its own), surely cannot fit in this machine's memory (<see cref="MemoryPerImage"/> is a lower bound).
    /// </summary>
    public void CheckBatchFits(int maxBatch)
    {
        // micro-batching makes batches of 1 to maxBatch images: a graph fixed to one batch failed its warm-up (or every
        // batch of another size) with "exported at a fixed image size"
        if (FixedBatch is int exactly && (exactly > 1 || maxBatch > 1))
            throw new ArgumentException($"{Description} {OnnxRuntimeEngine.ExactBatch(exactly)}, and a server batches 1 to max-batch images: " +
                                        (exactly == 1 ? "serve it with a max batch of 1" : "export it with a dynamic batch axis"));
        MemoryPerImage?.RequireBatchFits(maxBatch, workers: Instances.Count, model: Description);
    }

    /// <summary>Predictors of one model (one per worker) with the preprocessing and class names that go with them.</summary>
    public static ServedModel FromPredictors(IReadOnlyList<ImagePredictor> predictors, DeploymentPreprocessing preprocessing,
                                             IReadOnlyList<string> classNames)
    {
        if (predictors.Count == 0) throw new ArgumentException("at least one predictor is needed");
        var first = predictors[0];
        // an int8 export says so: its answers differ from float32's within a few tenths of a point of top-1 (RESULTS.md)
        // a graph written by another tool stores no form: none is claimed (it was called the training form)
        string? form = first.Info.Fused switch { true => "fused", false => "training form", null => null };
        string input = $"{first.Config.InChannels}x{preprocessing.Size}x{preprocessing.Size}";   // the side images are brought to
        string[] traits = [.. new[] { form, first.Quantization is not null ? "int8" : null }.OfType<string>(), input];
        return new ServedModel
        {
            Description = $"{first.Config.Name} ({string.Join(", ", traits)}) on {first.EngineName}",
            ClassNames = classNames,
            Preprocess = preprocessing.Load,
            Instances = predictors.Select(p => (IBatchClassifier)new PredictorInstance(p)).ToList(),
            MemoryPerImage = first.MemoryPerImage(preprocessing.Size),
            Config = first.Config,
            WinogradConvolutions = first.Winograd?.Convolutions,
            StatisticsGuessed = preprocessing.StatisticsGuessed,
            FixedBatch = first.FixedBatch,
        };
    }

    /// <summary>
    /// <paramref name="workers"/> predictors of <paramref name="source"/> (<see cref="PredictorSource.Open"/>, one per worker)
    /// with the preprocessing and class names that go with them (<see cref="ImagePredictor.Preprocessing"/>, of
    /// <paramref name="dataset"/> when given): what `parnet serve` serves. The refusals of those two; the predictors opened
    /// are disposed when one of them, or anything after, fails.
    /// </summary>
    public static ServedModel Open(PredictorSource source, int workers = 1, string? dataset = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        var predictors = new List<ImagePredictor>();
        try
        {
            for (int i = 0; i < workers; i++) predictors.Add(source.Open());
            // the side the source asks for (serve --image-size: a graph of dynamic side runs at it), else the stored or natural one
            var (preprocessing, names) = predictors[0].Preprocessing(dataset, source.ImageSize);
            return FromPredictors(predictors, preprocessing, names);
        }
        catch
        {
            foreach (var predictor in predictors) predictor.Dispose();
            throw;
        }
    }

    sealed class PredictorInstance(ImagePredictor predictor) : IBatchClassifier
    {
        public float[][] Probabilities(IReadOnlyList<ImageF> images) => predictor.Probabilities(images);
        public void Dispose() => predictor.Dispose();
    }

    public void Dispose()
    {
        foreach (var instance in Instances) instance.Dispose();
    }
}
