using System.Globalization;
using System.Text;
using ParNet.Data;
using ParNet.Runtime;
using static TorchSharp.torch;

namespace ParNet.Training;

/// <summary>What one pass over an evaluation set measured.</summary>
public sealed record EvalResult
{
    public required int Count { get; init; }
    public required double Loss { get; init; }
    public required double Top1 { get; init; }
    /// <summary>NaN where the model has 5 classes or fewer: every label is then among the top 5, and a "top-5 100%" says nothing.</summary>
    public required double Top5 { get; init; }

    /// <summary>Whether top-5 means anything for a model of <paramref name="classes"/> classes (more than 5).</summary>
    public static bool HasTop5(int classes) => classes > 5;
    /// <summary>[true class, predicted class] counts.</summary>
    public required long[,] Confusion { get; init; }
    public required IReadOnlyList<string> ClassNames { get; init; }
    public double Seconds { get; init; }

    /// <summary>Recall per class (correct / images of that class); NaN for a class with no images.</summary>
    public double[] PerClassAccuracy
    {
        get
        {
            int k = Confusion.GetLength(0);
            var acc = new double[k];
            for (int r = 0; r < k; r++)
            {
                long total = 0;
                for (int c = 0; c < k; c++) total += Confusion[r, c];
                acc[r] = total == 0 ? double.NaN : (double)Confusion[r, r] / total;
            }
            return acc;
        }
    }

    public string ConfusionCsv()
    {
        int k = Confusion.GetLength(0);
        var sb = new StringBuilder("true\\predicted");
        for (int c = 0; c < k; c++) sb.Append(',').Append(Csv(Name(c)));
        sb.Append('\n');
        for (int r = 0; r < k; r++)
        {
            sb.Append(Csv(Name(r)));
            for (int c = 0; c < k; c++) sb.Append(',').Append(Confusion[r, c].ToString(CultureInfo.InvariantCulture));
            sb.Append('\n');
        }
        return sb.ToString();
    }

    public string PerClassCsv()
    {
        var sb = new StringBuilder("class,name,images,correct,accuracy\n");
        var acc = PerClassAccuracy;
        int k = Confusion.GetLength(0);
        for (int r = 0; r < k; r++)
        {
            long total = 0;
            for (int c = 0; c < k; c++) total += Confusion[r, c];
            sb.Append(CultureInfo.InvariantCulture, $"{r},{Csv(Name(r))},{total},{Confusion[r, r]},{acc[r].ToString("G6", CultureInfo.InvariantCulture)}\n");
        }
        return sb.ToString();
    }

    string Name(int i) => i < ClassNames.Count ? ClassNames[i] : i.ToString(CultureInfo.InvariantCulture);
    static string Csv(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}

/// <summary>Top-1/top-5, loss, confusion matrix over an <see cref="IBatchSource"/>; ten-crop aware.</summary>
public static class Evaluator
{
    /// <summary>The least averaged probability before its log (no log 0); a process-lifetime Scalar, not a temporary
    /// (RESULTS.md, defect 4).</summary>
    static readonly TorchSharp.Scalar ProbabilityFloor = ParNet.Runtime.PersistentScalars.PersistentScalar(1e-12);

    /// <summary>
    /// A ten-crop batch holds 10 views per label: run it in chunks of one loader batch, so that activations stay
    /// the size of a plain batch's (RESULTS.md, ten-crop evaluation).
    /// </summary>
    static Tensor ForwardInChunks(nn.Module<Tensor, Tensor> model, Tensor images, long chunk)
        => images.shape[0] <= chunk ? model.call(images) : cat(images.split(chunk).Select(model.call).ToArray());

    /// <summary>
    /// Runs the model in eval mode without gradients. A batch whose image count is a multiple k of its label
    /// count (a ten-crop loader, or <paramref name="mirror"/>) is scored by averaging the k views' softmax probabilities per image.
    /// The model's training mode is restored afterwards. <paramref name="mirror"/>: every view is scored beside its
    /// left-right mirror image, the two softmaxes averaged (flip test-time augmentation, for a model trained with flips).
    /// <paramref name="channelsLast"/>: the images go in with NHWC strides (for a model laid out channels_last, and the
    /// Winograd convs of a <see cref="Runtime.WinogradPlan"/>, which take only such maps).
    /// </summary>
    public static EvalResult Evaluate(nn.Module<Tensor, Tensor> model, IBatchSource source, int numClasses,
                                      ScalarType? inputType = null, CancellationToken cancel = default, Action<int, int>? onBatch = null,
                                      bool mirror = false, bool channelsLast = false)
    {
        bool wasTraining = model.training;
        model.eval();
        var started = System.Diagnostics.Stopwatch.StartNew();
        var confusion = new long[numClasses, numClasses];
        double lossSum = 0;
        long seen = 0, top5 = 0;
        int batchIndex = 0, batches = source.BatchesPerEpoch;
        try
        {
            using var noGrad = no_grad();
            foreach (var batch in source.Epoch(0, cancel))
            {
                using (batch)
                using (var scope = NewDisposeScope())
                {
                    var images = inputType is ScalarType t ? batch.Images.to(t) : batch.Images;
                    if (mirror) images = stack([images, images.flip(3)], 1).flatten(0, 1);   // each view, then its mirror: consecutive
                    if (channelsLast) images = Runtime.MemoryFormat.ToChannelsLast(images);
                    long n = batch.Labels.shape[0];
                    var logits = ForwardInChunks(model, images, n).to(ScalarType.Float32);
                    Tensor logProbs;
                    if (logits.shape[0] == n) logProbs = logits.log_softmax(1);
                    else
                    {
                        if (logits.shape[0] % n != 0) throw new InvalidDataException($"batch has {logits.shape[0]} images for {n} labels");
                        long views = logits.shape[0] / n;
                        logProbs = logits.softmax(1).view(n, views, -1).mean([1L]).clamp_min(ProbabilityFloor).log();
                    }
                    if (logProbs.shape[1] != numClasses) throw new InvalidDataException($"model gives {logProbs.shape[1]} classes, the data has {numClasses}");
                    var labels = batch.Labels.data<long>().ToArray();
                    if (Array.FindIndex(labels, l => l < 0 || l >= numClasses) is var outside and >= 0)
                        throw new InvalidDataException($"the data has a label {labels[outside]} ({source.ClassNames.Count} classes: " +
                                                       $"{string.Join(", ", source.ClassNames.Take(12))}{(source.ClassNames.Count > 12 ? ", ..." : "")}), the model {numClasses} classes");
                    lossSum += -logProbs.gather(1, batch.Labels.unsqueeze(1)).sum().item<float>();
                    int k = Math.Min(5, numClasses);
                    var topk = logProbs.topk(k, 1).indexes;
                    top5 += topk.eq(batch.Labels.unsqueeze(1)).any(1).sum().item<long>();
                    var predicted = topk.select(1, 0).data<long>().ToArray();
                    for (int i = 0; i < labels.Length; i++) confusion[labels[i], predicted[i]]++;
                    seen += n;
                }
                onBatch?.Invoke(++batchIndex, batches);
            }
        }
        finally { model.train(wasTraining); }
        long correct = 0;
        for (int c = 0; c < numClasses; c++) correct += confusion[c, c];
        return new EvalResult
        {
            Count = (int)seen,
            Loss = seen > 0 ? lossSum / seen : double.NaN,
            Top1 = seen > 0 ? (double)correct / seen : double.NaN,
            Top5 = seen > 0 && EvalResult.HasTop5(numClasses) ? (double)top5 / seen : double.NaN,
            Confusion = confusion,
            ClassNames = source.ClassNames,
            Seconds = started.Elapsed.TotalSeconds,
        };
    }

    /// <summary>Writes confusion.csv, confusion.png, per_class.csv and summary.json into a folder; a number that is not
    /// finite (the loss of diverged weights, the recall of a class without images) is null in summary.json, which JSON
    /// has no other way to write. <paramref name="scored"/>, when given, is summary.json's "Scored": which weights (their
    /// SHA-256), data and views gave the numbers, by which code and when.</summary>
    public static void WriteReport(EvalResult r, string directory, EvalSubject? scored = null)
    {
        static double? Finite(double v) => double.IsFinite(v) ? v : null;
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, "confusion.csv"), r.ConfusionCsv());
        AtomicFile.WriteAllText(Path.Combine(directory, "per_class.csv"), r.PerClassCsv());
        Charts.Confusion(Path.Combine(directory, "confusion.png"), r.Confusion, r.ClassNames);
        AtomicFile.WriteAllText(Path.Combine(directory, "summary.json"),
            System.Text.Json.JsonSerializer.Serialize(new { r.Count, Loss = Finite(r.Loss), Top1 = Finite(r.Top1), Top5 = Finite(r.Top5), r.Seconds, PerClass = r.PerClassAccuracy.Select(Finite), Scored = scored },
                new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
    }
}
