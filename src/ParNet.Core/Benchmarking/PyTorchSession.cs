using System.Diagnostics;
using System.Globalization;

namespace ParNet.Benchmarking;

/// <summary>
/// A running bench/pytorch/pytorch_reference.py (<see cref="PyTorchReference.Start"/>): the child has built its models
/// and printed one JSON line (torch version, threads, rows, fixture check); each <see cref="Run"/> asks it over stdin to
/// run one model and answers the seconds it measured around that forward pass, so the round trip is not counted.
/// Why a session and not a child that times everything after our rows: drift of a shared VM between our rows and theirs
/// moved the float32 / authors' fused ratio 0.54-0.71x within eight minutes (Zen 5, 2026-12-03); in one session their
/// rows take turns with ours in the same rounds. A child that dies or answers nonsense fails the run with the end of its
/// stderr (<see cref="LineProtocolChild"/>).
/// </summary>
public sealed class PyTorchSession : IDisposable
{
    public sealed record Row(string Key, string Name);

    public string TorchVersion { get; }
    public int Threads { get; }
    /// <summary>The fixture the child's code reproduced and its relative L2 errors, when it was asked to check one.</summary>
    public string? FixtureCheck { get; }
    public IReadOnlyList<Row> Rows { get; }

    readonly LineProtocolChild _child;

    internal PyTorchSession(string python, IEnumerable<string> args, string folder, TimeSpan deadline)
    {
        _child = new LineProtocolChild(python, args, folder, deadline);
        try
        {
            (TorchVersion, Threads, FixtureCheck, Rows) = _child.ParseJson(_child.ReadLine("its models"), "its models", root =>
            (
                root.GetProperty("torch").GetString() ?? "?",
                root.GetProperty("threads").GetInt32(),
                root.TryGetProperty("fixture_check", out var f)
                    ? string.Create(CultureInfo.InvariantCulture, $"{f.GetProperty("fixture").GetString()}: relative L2 unfused " +
                                    $"{f.GetProperty("relative_l2_unfused").GetDouble():E2}, fused {f.GetProperty("relative_l2_fused").GetDouble():E2}")
                    : null,
                (IReadOnlyList<Row>)root.GetProperty("rows").EnumerateArray()
                    .Select(r => new Row(r.GetProperty("key").GetString()!, r.GetProperty("name").GetString()!)).ToList()
            ));
        }
        catch
        {
            _child.Dispose();
            throw;
        }
    }

    /// <summary>Runs row <paramref name="row"/> (an index into <see cref="Rows"/>) <paramref name="untimed"/> times untimed
    /// and once timed on a seeded batch of <paramref name="batch"/> images; the timed run's seconds, measured in the child.</summary>
    public double Run(int row, int batch, int untimed = 0)
    {
        if (row < 0 || row >= Rows.Count) throw new ArgumentOutOfRangeException(nameof(row), $"the child has {Rows.Count} rows");
        string answer = _child.Ask($"run {row} {batch} {untimed}");
        if (!double.TryParse(answer, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) || seconds < 0)
            throw _child.Failure($"it answered '{answer}' to a run");
        return seconds;
    }

    /// <summary>Seconds of one question and answer with no work: what a row timed from this side would carry on top.</summary>
    public double RoundTrip()
    {
        long start = Stopwatch.GetTimestamp();
        string answer = _child.Ask("ping");
        if (answer != "pong") throw _child.Failure($"it answered '{answer}' to ping");
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    public void Dispose() => _child.Dispose();
}
