using System.Globalization;
using ParNet.Runtime;
using ParNet.Training;

namespace ParNet.Cli;

/// <summary>
/// Renders <see cref="TrainEvent"/>s: a live one-line progress bar (epoch, loss, accuracy, images/s, ETA)
/// when the output is a terminal, plain lines otherwise (a few per epoch, one summary per epoch); the run's warnings
/// (<see cref="ScheduleWarningEvent"/>) to <paramref name="warnings"/>, as `parnet train: warning: ...`.
/// Invoked synchronously on the training thread.
/// </summary>
public sealed class ProgressRenderer(TextWriter output, TextWriter warnings, bool interactive, int linesPerEpoch = 5) : IProgress<TrainEvent>
{
    int _lastLoggedBucket = -1, _lastEpoch = -1;
    DateTime _lastDraw = DateTime.MinValue;
    bool _lineOpen;

    public static ProgressRenderer ForConsole(TextWriter output, TextWriter warnings) => new(output, warnings, !Console.IsOutputRedirected);

    public void Report(TrainEvent e)
    {
        switch (e)
        {
            case StepEvent s:
                if (s.Epoch != _lastEpoch) { _lastEpoch = s.Epoch; _lastLoggedBucket = -1; }
                if (interactive)
                {
                    if (s.Batch != s.Batches && (DateTime.UtcNow - _lastDraw).TotalMilliseconds < 200) return;
                    _lastDraw = DateTime.UtcNow;
                    Draw(Bar(s.Batch, s.Batches) + " " + StepText(s));
                }
                else
                {
                    int bucket = s.Batch * linesPerEpoch / s.Batches;
                    if (bucket == _lastLoggedBucket || bucket == 0) return;
                    _lastLoggedBucket = bucket;
                    output.WriteLine(StepText(s));
                }
                break;
            case EvalProgressEvent v when interactive:
                if (v.Batch != v.Batches && (DateTime.UtcNow - _lastDraw).TotalMilliseconds < 200) return;
                _lastDraw = DateTime.UtcNow;
                Draw($"{Bar(v.Batch, v.Batches)} epoch {v.Epoch} evaluating");
                break;
            case EpochEvent ep:
                EndLine();
                output.WriteLine(EpochText(ep));
                break;
            case ScheduleWarningEvent w:
                EndLine();
                warnings.WriteLine($"parnet train: warning: {w.WordedWith(OptionNames.Cli)}");
                break;
            case MessageEvent m:
                EndLine();
                output.WriteLine(m is INamesSettings named ? named.WordedWith(OptionNames.Cli) : m.Text);
                break;
        }
    }

    public static string StepText(StepEvent s) => string.Create(CultureInfo.InvariantCulture,
        $"epoch {s.Epoch}/{s.Epochs} batch {s.Batch}/{s.Batches} loss {s.Loss:F4} acc {s.Accuracy * 100:F2}% lr {s.Lr:G3} {s.ImagesPerSecond:F0} img/s ETA {Eta(s.Eta)}");

    public static string EpochText(EpochEvent e)
    {
        var m = e.Metrics;
        string test = m.TestAccuracy is double a
            ? string.Create(CultureInfo.InvariantCulture, $" | test loss {m.TestLoss:F4} top-1 {a * 100:F2}%{(m.TestTop5 is double t5 ? $" top-5 {(t5 * 100).ToString("F2", CultureInfo.InvariantCulture)}%" : "")}{(e.IsBest ? " (best)" : "")}")
            : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"epoch {m.Epoch}/{e.Epochs} train loss {m.TrainLoss:F4} acc {m.TrainAccuracy * 100:F2}%{test} | lr {m.Lr:G3} {m.ImagesPerSecond:F0} img/s {m.EpochSeconds:F0}s elapsed {Eta(TimeSpan.FromSeconds(m.ElapsedSeconds))} RSS {m.RssMiB:F0} MiB");
    }

    static string Bar(int done, int total, int width = 24)
    {
        int filled = total == 0 ? width : (int)((long)done * width / total);
        return "[" + new string('#', filled) + new string('.', width - filled) + "]";
    }

    public static string Eta(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m" : $"{t.Minutes}m{t.Seconds:D2}s";

    void Draw(string text)
    {
        int width = 120;
        // a terminal that reports no size (script(1), docker -t: 0 columns) keeps the default, not 40 (the line was cut mid-word)
        try { if (!Console.IsOutputRedirected && Console.WindowWidth > 0) width = Math.Max(40, Console.WindowWidth - 1); } catch (IOException) { }
        if (text.Length > width) text = text[..width];
        output.Write("\r" + text.PadRight(width));
        output.Flush();
        _lineOpen = true;
    }

    public void EndLine()
    {
        if (_lineOpen) { output.WriteLine(); _lineOpen = false; }
    }
}
