using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace ParNet.Export.Quantization;

/// <summary>
/// Min/max calibration: runs the float32 graph in ONNX Runtime on the calibration images with the activations to be
/// quantized exposed as extra graph outputs, and keeps each one's smallest and largest value. Min/max rather than a
/// percentile: ParNet's quantized activations are conv outputs and SiLU outputs without long sparse tails (a fused
/// conv's output is bounded by its weights and inputs), so clipping would cost more in saturated values than it saves in
/// resolution; the measured top-1 change (RESULTS.md, int8) is the check. Deterministic: the same images in the same
/// order give the same ranges (each image's outputs do not depend on the batch it is in).
/// Uses ONNX Runtime directly (not ParNet.Inference, a layer below this one): calibrating is part of writing the file.
/// </summary>
public static class ActivationCalibrator
{
    /// <summary>The range of every value in <paramref name="values"/> over all <paramref name="batches"/> (float32 NCHW arrays and their shapes).</summary>
    public static Dictionary<string, ActivationRange> Calibrate(ModelProto model, IReadOnlyList<string> values,
                                                               IEnumerable<(float[] Data, long[] Shape)> batches, int intraOpThreads = 0)
    {
        var exposed = model.Clone();
        var declared = exposed.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var value in values.Where(v => !declared.Contains(v)))
            exposed.Graph.Output.Add(new ValueInfoProto
            {
                Name = value,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        // the graph's input values are not node outputs: read them from the batches themselves
        string input = exposed.Graph.Input[0].Name;
        var fromNodes = values.Where(v => v != input).ToArray();

        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC };
        if (intraOpThreads > 0) options.IntraOpNumThreads = intraOpThreads;
        using var session = new InferenceSession(exposed.ToByteArray(), options);
        var ranges = values.ToDictionary(v => v, _ => ActivationRange.Empty, StringComparer.Ordinal);
        int images = 0;
        foreach (var (data, shape) in batches)
        {
            if (ranges.ContainsKey(input)) ranges[input] = ranges[input].Include(data);
            using var value = OrtValue.CreateTensorValueFromMemory(data, shape);
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, [input], [value], fromNodes);
            for (int i = 0; i < fromNodes.Length; i++)
                ranges[fromNodes[i]] = ranges[fromNodes[i]].Include(outputs[i].GetTensorDataAsSpan<float>());
            images += (int)shape[0];
        }
        if (images == 0) throw new ArgumentException("calibration needs at least one image");
        return ranges;
    }
}
