using System.Globalization;
using System.Text;
using ParNet.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace ParNet.Training;

/// <summary>
/// The run folder's logs: metrics.csv (one row per epoch, rewritten from the full history so a resumed run
/// has one consistent file), TensorBoard scalars under tensorboard/, and PNG plots of loss, accuracy and
/// learning rate. Also per-step scalars (train loss, LR), per-epoch weight histograms (<see cref="WeightHistograms"/>)
/// and, once, a few training images (<see cref="SampleImages"/>) to TensorBoard.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    readonly string _runDirectory;
    readonly long _startStep;
    TensorBoardWriter? _writer;

    /// <param name="runDirectory">the run folder</param>
    /// <param name="resumedAtStep">the global step of the checkpoint a resumed run goes on from (null: a new run); its event
    /// file starts at the step after it, so that TensorBoard drops a killed attempt's records of the steps trained again
    /// (<see cref="TensorBoardWriter"/>)</param>
    public MetricsLog(string runDirectory, long? resumedAtStep = null)
    {
        _runDirectory = runDirectory;
        _startStep = resumedAtStep is long step ? step + 1 : 0;
        Directory.CreateDirectory(runDirectory);
    }

    /// <summary>The event file, opened with the first event: a resume with nothing left to train leaves no empty file
    /// (TensorBoard lists every file of the folder as part of the run).</summary>
    TensorBoardWriter TensorBoard => _writer ??= new TensorBoardWriter(Path.Combine(_runDirectory, "tensorboard"), _startStep);

    public string CsvPath => Path.Combine(_runDirectory, "metrics.csv");

    /// <summary>The event file written so far; null before the first event.</summary>
    public string? TensorBoardPath => _writer?.Path;

    public const string CsvHeader = "epoch,lr,train_loss,train_acc,test_loss,test_acc,test_top5,epoch_seconds,images_per_sec,elapsed_seconds,rss_mib";

    public void Step(long step, double loss, double lr) => TensorBoard.AddScalars([("step/train_loss", loss), ("step/lr", lr)], step);

    /// <summary>One histogram per weight tensor (tag "weights/NAME"), at step = the epoch, for TensorBoard's histograms tab.</summary>
    public void WeightHistograms(nn.Module model, int epoch)
    {
        using var scope = NewDisposeScope();
        foreach (var (name, parameter) in model.named_parameters())
            TensorBoard.AddHistogram("weights/" + name, parameter, epoch);
    }

    bool _imagesLogged;

    /// <summary>
    /// The first <paramref name="count"/> images of a training batch (NCHW, as fed to the model), each rescaled to
    /// [0, 1] by its own min and max (the batch is normalized), as "train/sample_I"; only the first call writes.
    /// Four by default: enough to see what the augmentation does, few enough to keep the images tab short.
    /// </summary>
    public void SampleImages(Tensor batch, long step, int count = 4)
    {
        if (_imagesLogged) return;
        _imagesLogged = true;
        using var scope = NewDisposeScope();
        long n = Math.Min(count, batch.shape[0]);
        for (long i = 0; i < n; i++)
        {
            var image = batch[i].to(ScalarType.Float32);
            var (lo, hi) = (image.min(), image.max());
            TensorBoard.AddImage($"train/sample_{i}", (image - lo) / (hi - lo).clamp_min(1e-6), step);
        }
    }

    public void Epoch(EpochMetrics m, IReadOnlyList<EpochMetrics> history)
    {
        var scalars = new List<(string, double)>
        {
            ("epoch/lr", m.Lr), ("epoch/train_loss", m.TrainLoss), ("epoch/train_acc", m.TrainAccuracy),
            ("epoch/images_per_sec", m.ImagesPerSecond), ("epoch/rss_mib", m.RssMiB),
        };
        if (m.TestLoss is double tl) scalars.Add(("epoch/test_loss", tl));
        if (m.TestAccuracy is double ta) scalars.Add(("epoch/test_acc", ta));
        if (m.TestTop5 is double t5) scalars.Add(("epoch/test_top5", t5));
        TensorBoard.AddScalars(scalars, m.Epoch);
        WriteHistory(history);
    }

    /// <summary>
    /// metrics.csv and the plots as of a checkpoint resumed from: a run stopped after writing an epoch's logs and before
    /// its checkpoint (or in that checkpoint's save) left them an epoch ahead, which the resume trains again; they said so
    /// until the end of the next epoch, or for good when the resumed run stopped before it. Plots of no epoch are removed.
    /// </summary>
    public void Resumed(IReadOnlyList<EpochMetrics> history) => WriteHistory(history);

    /// <summary>metrics.csv and the plots of <paramref name="history"/>; no plots for no epoch.</summary>
    void WriteHistory(IReadOnlyList<EpochMetrics> history)
    {
        WriteCsv(CsvPath, history);
        if (history.Count > 0) Plot(_runDirectory, history);
        else foreach (string plot in PlotFiles) File.Delete(Path.Combine(_runDirectory, plot));
    }

    /// <summary>The plots <see cref="Plot"/> writes into a run folder.</summary>
    public static readonly string[] PlotFiles = ["loss.png", "accuracy.png", "lr.png"];

    public static void WriteCsv(string path, IReadOnlyList<EpochMetrics> history)
    {
        var sb = new StringBuilder(CsvHeader).Append('\n');
        string F(double? v) => v is double d ? d.ToString("G6", CultureInfo.InvariantCulture) : "";
        foreach (var m in history)
            sb.Append(string.Join(',', m.Epoch.ToString(CultureInfo.InvariantCulture), F(m.Lr), F(m.TrainLoss), F(m.TrainAccuracy), F(m.TestLoss),
                F(m.TestAccuracy), F(m.TestTop5), F(m.EpochSeconds), F(m.ImagesPerSecond), F(m.ElapsedSeconds), F(m.RssMiB))).Append('\n');
        AtomicFile.Write(path, temporary => File.WriteAllText(temporary, sb.ToString()));
    }

    public static void Plot(string directory, IReadOnlyList<EpochMetrics> h)
    {
        if (h.Count == 0) return;
        List<(double, double)> P(Func<EpochMetrics, double?> f) => h.Where(m => f(m) is not null).Select(m => ((double)m.Epoch, f(m)!.Value)).ToList();
        Charts.Line(Path.Combine(directory, PlotFiles[0]), "loss", "epoch",
            [new("train", P(m => m.TrainLoss), Charts.Color(0)), new("test", P(m => m.TestLoss), Charts.Color(1))]);
        Charts.Line(Path.Combine(directory, PlotFiles[1]), "top-1 accuracy (%)", "epoch",
            [new("train", P(m => m.TrainAccuracy * 100), Charts.Color(0)), new("test", P(m => m.TestAccuracy * 100), Charts.Color(1))]);
        Charts.Line(Path.Combine(directory, PlotFiles[2]), "learning rate", "epoch", [new("lr", P(m => m.Lr), Charts.Color(2))]);
    }

    public void Dispose() => _writer?.Dispose();
}
