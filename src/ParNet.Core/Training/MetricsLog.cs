using System.Globalization;
using System.Text;

namespace ParNet.Training;

/// <summary>
/// The run folder's logs: metrics.csv (one row per epoch, rewritten from the full history so a resumed run
/// has one consistent file), TensorBoard scalars under tensorboard/, and PNG plots of loss, accuracy and
/// learning rate. Also per-step scalars (train loss, LR) to TensorBoard.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    readonly string _runDirectory;
    readonly TensorBoardWriter _tensorBoard;

    public MetricsLog(string runDirectory)
    {
        _runDirectory = runDirectory;
        Directory.CreateDirectory(runDirectory);
        _tensorBoard = new TensorBoardWriter(Path.Combine(runDirectory, "tensorboard"));
    }

    public string CsvPath => Path.Combine(_runDirectory, "metrics.csv");
    public string TensorBoardPath => _tensorBoard.Path;

    public const string CsvHeader = "epoch,lr,train_loss,train_acc,test_loss,test_acc,test_top5,epoch_seconds,images_per_sec,elapsed_seconds,rss_mib";

    public void Step(long step, double loss, double lr) => _tensorBoard.AddScalars([("step/train_loss", loss), ("step/lr", lr)], step);

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
        _tensorBoard.AddScalars(scalars, m.Epoch);
        WriteCsv(CsvPath, history);
        Plot(_runDirectory, history);
    }

    public static void WriteCsv(string path, IReadOnlyList<EpochMetrics> history)
    {
        var sb = new StringBuilder(CsvHeader).Append('\n');
        string F(double? v) => v is double d ? d.ToString("G6", CultureInfo.InvariantCulture) : "";
        foreach (var m in history)
            sb.Append(string.Join(',', m.Epoch.ToString(CultureInfo.InvariantCulture), F(m.Lr), F(m.TrainLoss), F(m.TrainAccuracy), F(m.TestLoss),
                F(m.TestAccuracy), F(m.TestTop5), F(m.EpochSeconds), F(m.ImagesPerSecond), F(m.ElapsedSeconds), F(m.RssMiB))).Append('\n');
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, sb.ToString());
        File.Move(tmp, path, overwrite: true);
    }

    public static void Plot(string directory, IReadOnlyList<EpochMetrics> h)
    {
        if (h.Count == 0) return;
        List<(double, double)> P(Func<EpochMetrics, double?> f) => h.Where(m => f(m) is not null).Select(m => ((double)m.Epoch, f(m)!.Value)).ToList();
        Charts.Line(Path.Combine(directory, "loss.png"), "loss", "epoch",
            [new("train", P(m => m.TrainLoss), Charts.Color(0)), new("test", P(m => m.TestLoss), Charts.Color(1))]);
        Charts.Line(Path.Combine(directory, "accuracy.png"), "top-1 accuracy (%)", "epoch",
            [new("train", P(m => m.TrainAccuracy * 100), Charts.Color(0)), new("test", P(m => m.TestAccuracy * 100), Charts.Color(1))]);
        Charts.Line(Path.Combine(directory, "lr.png"), "learning rate", "epoch", [new("lr", P(m => m.Lr), Charts.Color(2))]);
    }

    public void Dispose() => _tensorBoard.Dispose();
}
