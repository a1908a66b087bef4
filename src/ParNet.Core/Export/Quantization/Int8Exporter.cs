using Google.Protobuf;
using Onnx;
using ParNet.Data;
using ParNet.Models;
using ParNet.Runtime;
using static TorchSharp.torch;

namespace ParNet.Export.Quantization;

/// <summary>
/// `parnet export --int8`: the fused network's float32 graph (<see cref="OnnxExporter"/>) with its SSE branches folded for
/// channels-last int8 (<see cref="SseBatchNormFolding"/>), its activations calibrated on images
/// (<see cref="ActivationCalibrator"/>), rewritten into QDQ form (<see cref="QdqQuantizer"/>). The file
/// carries the same ParNet metadata as a float32 export plus <see cref="QdqQuantizer.MetadataKey"/>.
/// </summary>
public static class Int8Exporter
{
    /// <summary>The quantized ModelProto of a fused model traced at imageSize, calibrated on the given batches.</summary>
    public static ModelProto Build(ImageClassifier fused, int imageSize, IEnumerable<(float[] Data, long[] Shape)> calibration,
                                   Int8Options options, OnnxExportOptions? export = null, int intraOpThreads = 0)
    {
        var fp32 = OnnxExporter.BuildModel(fused, imageSize, imageSize, export);
        if (!fp32.MetadataProps.Any(p => p.Key == ParNet.Weights.WeightsMetadata.KeyFused && p.Value == "true"))
            throw new ArgumentException($"{fused.Config.Name}: int8 export quantizes the fused network; fuse the model first");
        var folded = SseBatchNormFolding.Apply(fp32);
        var values = QdqQuantizer.ValuesToCalibrate(folded.Graph, options);
        var ranges = ActivationCalibrator.Calibrate(folded, values, calibration, intraOpThreads);
        return QdqQuantizer.Quantize(folded, ranges, options);
    }

    public static void Export(ImageClassifier fused, string path, int imageSize, IEnumerable<(float[] Data, long[] Shape)> calibration,
                              Int8Options options, OnnxExportOptions? export = null, int intraOpThreads = 0)
    {
        AtomicFile.RequireWritable(path);   // before calibration's minutes, not after them
        OnnxExporter.Write(Build(fused, imageSize, calibration, options, export, intraOpThreads), path);
    }

    public static byte[] ExportToBytes(ImageClassifier fused, int imageSize, IEnumerable<(float[] Data, long[] Shape)> calibration, Int8Options options) =>
        Build(fused, imageSize, calibration, options).ToByteArray();

    /// <summary>The first <paramref name="count"/> images of a source (its first epoch, in its order) as float32 batches.</summary>
    public static IEnumerable<(float[] Data, long[] Shape)> FirstImages(IBatchSource source, int count)
    {
        if (count < 1) throw new ArgumentException($"calibration needs at least one image; got {count}");
        int taken = 0;
        foreach (var batch in source.Epoch(0))
        {
            using (batch)
            {
                long take = Math.Min(batch.Count, count - taken);
                using var scope = NewDisposeScope();
                var images = batch.Images.narrow(0, 0, take).to(ScalarType.Float32).contiguous();
                yield return (images.data<float>().ToArray(), images.shape);
                taken += (int)take;
            }
            if (taken >= count) yield break;
        }
        if (taken < count) throw new InvalidDataException($"calibration asked for {count} images; the data has {taken}");
    }

    /// <summary>
    /// <paramref name="count"/> training images of <paramref name="dataset"/> chosen at random (seed 0: the same ones every
    /// time), preprocessed as the deployed model sees them (the evaluation pipeline at <paramref name="imageSize"/>). Not the
    /// first ones: an image folder is in class order, and its first images were all of its first classes (ranges
    /// calibrated on those clip the others' activations). <paramref name="classes"/>: the ids of the classes to draw from (those
    /// of weights trained on some of the data set's: <see cref="LoaderOptions.Classes"/>), null for all. Any images of the data
    /// set's layout serve (a few representative ImageNet classes for an ImageNet model): their classes are not checked against
    /// the model's. ArgumentException when the split holds fewer, or images of other channels.
    /// </summary>
    public static IEnumerable<(float[] Data, long[] Shape)> CalibrationImages(string dataset, string? dataDir, ModelConfig config, int imageSize, int count,
                                                                             IReadOnlyList<int>? classes = null)
    {
        var source = DataPipelines.Eval(dataset, dataDir, config, new AugmentationSettings { ImageSize = imageSize },
            new LoaderOptions { BatchSize = Math.Min(count, 64), Workers = 0, Subset = Subset.Random(count, CalibrationSet.Seed), Classes = classes }, split: "train", size: imageSize);
        if (source.Count < count)
            throw new ArgumentException($"{count} calibration images asked for: the {dataset} training split has {source.Count} images" +
                                        (classes is null ? "" : $" of the {classes.Count} classes the weights were trained on"));
        // a folder's images are RGB: a grey model's calibration failed in ONNX Runtime with its stack trace (bench/export audit, session 41)
        if (source.ImageShape.Channels != config.InChannels)
            throw new ArgumentException($"the {dataset} training split has {source.ImageShape.Channels}-channel images; {config.Name} takes {config.InChannels}");
        return FirstImages(source, count);
    }

    /// <summary>Seeded normal noise in the model's input shape: for timing only (the kernels' speed does not depend on the ranges).</summary>
    public static IEnumerable<(float[] Data, long[] Shape)> NoiseImages(ModelConfig config, int imageSize, int count, int seed = 1)
    {
        var random = new Random(seed);
        long[] shape = [1, config.InChannels, imageSize, imageSize];
        for (int i = 0; i < count; i++)
        {
            var data = new float[config.InChannels * imageSize * imageSize];
            for (int j = 0; j < data.Length; j++)   // Box-Muller
                data[j] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
            yield return (data, shape);
        }
    }
}
