using TorchSharp;
using static TorchSharp.torch;

namespace ParNet.Training;

/// <summary>
/// TensorBoard event files through TorchSharp's own <c>torch.utils.tensorboard.SummaryWriter</c> (scalars,
/// weight histograms, images), plus <see cref="ReadScalars"/>, a reader that checks the TFRecord framing and
/// both CRCs and parses each record with TorchSharp's generated <c>Tensorboard.Event</c> protobuf class.
/// What this wrapper adds to SummaryWriter 0.107, and why:
/// - steps are <c>int</c> in SummaryWriter; a step past int.MaxValue is refused here instead of wrapping round;
/// - a SessionLog START event at the step the writer starts from (<see cref="TensorBoardWriter(string, long)"/>), what
///   PyTorch's SummaryWriter(purge_step=) writes: the steps a resumed run trains again must replace the killed attempt's
///   (they are in an event file of their own; SummaryWriter 0.107 has no purge_step, and its event writer is private, so the
///   record's framing is written here, <see cref="Append"/>, and checked by <see cref="ReadEvents"/>). How TensorBoard
///   treats a resumed run's files (read in TensorBoard's source, 2026-06; not run here, TensorBoard is not installed):
///   * its default loader (the Rust data server, `--load_fast=auto` with a local or gs:// --logdir) reads a run's event
///     files in name order and, per tag, drops the records of a step at or after each new record's step; it ignores
///     SessionLog events. A resumed run's steps then replace the killed attempt's in every tag (step/*, epoch/*, weights/*)
///     with or without the START event, because SummaryWriter names files by creation time (DateTime.Now.Ticks: local time,
///     so a resume within an hour after a clock change back could sort before the file it follows);
///   * its Python loader (`--load_fast=false`, --logdir_spec, other URLs, platforms without the data server) purges, in
///     files of file_version 2 (SummaryWriter writes one), only at a SessionLog START, and not at a run's first one (since
///     TensorBoard's pull request 4763, March 2021: the first marks a start, not a restart; so every writer here writes one,
///     a new run's at step 0, which also drops the records of a killed attempt that had no checkpoint; PyTorch writes one only
///     when given purge_step, which that loader then ignores as a run's first), and it drops every tag's records at or after the START's step:
///     one step for the two axes of these files. The START of a resume is at its first step trained again (the checkpoint's
///     global step + 1), which drops the killed attempt's step/* records; its epoch/* scalars and weights/* histograms, at
///     the epoch number (below that step), then show the epochs trained again twice in that loader.
/// Known defects of SummaryWriter 0.107, kept because they cost little (tested in LoggingAndEvalTests):
/// - the wall time of every event is whole Unix seconds (its walltime is a long), not fractional seconds;
/// - the file's first event (file_version "brain.Event:2") carries DateTime.Now.Ticks (100-ns units since
///   year 1, about 6.4e17) as its wall time instead of Unix seconds; TensorBoard's "relative" time axis, which
///   starts at a run's first event, is then wrong for the run in the Python loader (the Rust one takes the earliest wall
///   time, the START event's); the step and wall-clock axes are right;
/// - every event opens, appends to and closes the file. Measured here (2 shared cores, busy): 42 us per scalar;
///   the weight histograms of parnet_cifar_small (168 tensors, 1.4M values) 1.8 s, of parnet_s (192, 21M) 5.5 s,
///   once per epoch; 4 sample images at 224 px 0.5-0.8 s, once. Fine at epochs of a minute or more.
/// - TorchSharp 0.107 is built against SkiaSharp 2.88 (add_img encodes PNGs with it) and runs on the solution's
///   3.119.4: the image test decodes the PNG it wrote. Its CRC-32C is native (libLibTorchSharp), so reading event
///   files needs the same native library as training.
/// - the event file's path (SummaryWriter exposes only its folder).
/// </summary>
public sealed class TensorBoardWriter : IDisposable
{
    readonly TorchSharp.Modules.SummaryWriter _writer;

    /// <summary>A new event file in <paramref name="directory"/>, for a run that goes on from <paramref name="startStep"/>:
    /// 0 for a new run, the first step trained again for a resumed one (TensorBoard's loaders then drop the records of a
    /// killed attempt from that step on: see the class's notes).</summary>
    public TensorBoardWriter(string directory, long startStep = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(startStep);   // before SummaryWriter makes its file
        Directory.CreateDirectory(directory);
        var before = EventFiles(directory).ToHashSet();
        // one file per writer, suffix "parnet" so it is told apart from files another tool writes to the folder
        _writer = torch.utils.tensorboard.SummaryWriter(directory, filename_suffix: "parnet");
        Path = EventFiles(directory).Except(before).SingleOrDefault()
            ?? throw new IOException($"SummaryWriter wrote no new event file in {directory}");
        Append(Path, new Tensorboard.Event
        {
            Step = startStep, WallTime = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0,
            SessionLog = new Tensorboard.SessionLog { Status = Tensorboard.SessionLog.Types.SessionStatus.Start },
        });
    }

    /// <summary>Appends one event to an event file as a TFRecord: length, its masked CRC-32C, the event, its masked CRC-32C
    /// (SummaryWriter 0.107's own writer is private).</summary>
    static void Append(string path, Tensorboard.Event e)
    {
        byte[] data = Google.Protobuf.MessageExtensions.ToByteArray(e);
        var record = new byte[16 + data.Length];
        BitConverter.TryWriteBytes(record.AsSpan(0, 8), (long)data.Length);
        BitConverter.TryWriteBytes(record.AsSpan(8, 4), Masked(TorchSharp.Utils.CRC32C.process((long)data.Length)));
        data.CopyTo(record, 12);
        BitConverter.TryWriteBytes(record.AsSpan(12 + data.Length, 4), Masked(TorchSharp.Utils.CRC32C.process(data)));
        using var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        file.Write(record);
    }

    static IEnumerable<string> EventFiles(string directory) => Directory.GetFiles(directory, "events.out.tfevents.*");

    public string Path { get; }

    public void AddScalar(string tag, double value, long step) => AddScalars([(tag, value)], step);

    public void AddScalars(IEnumerable<(string Tag, double Value)> values, long step)
    {
        foreach (var (tag, value) in values) _writer.add_scalar(tag, (float)value, Step(step));
    }

    /// <summary>A histogram of a tensor's values (TensorBoard's "histograms" tab), e.g. one layer's weights.</summary>
    public void AddHistogram(string tag, Tensor values, long step)
    {
        using var scope = NewDisposeScope();   // holds the chain's intermediates (RESULTS.md, defect 6)
        var flat = values.detach().to(ScalarType.Float32).cpu().flatten();
        _writer.add_histogram(tag, flat, Step(step));
    }

    /// <summary>An image (TensorBoard's "images" tab): a CHW tensor with values in [0, 1], 1 or 3 channels.</summary>
    public void AddImage(string tag, Tensor chw, long step)
    {
        using var scope = NewDisposeScope();   // holds the chain's intermediates (RESULTS.md, defect 6)
        var image = chw.detach().to(ScalarType.Float32).cpu().clamp(0, 1).contiguous();   // a channels_last batch gives strided views
        _writer.add_img(tag, image, Step(step), dataformats: "CHW");
    }

    static int Step(long step) => step is >= 0 and <= int.MaxValue ? (int)step
        : throw new ArgumentOutOfRangeException(nameof(step), step, "TorchSharp's SummaryWriter takes int steps");

    /// <summary>Every event of a file, checking the TFRecord framing and both masked CRC-32Cs of each record.</summary>
    public static List<Tensorboard.Event> ReadEvents(string path)
    {
        var events = new List<Tensorboard.Event>();
        var bytes = File.ReadAllBytes(path);
        int pos = 0;
        while (pos < bytes.Length)
        {
            if (pos + 12 > bytes.Length) throw new InvalidDataException($"truncated record header at byte {pos}");
            long length = BitConverter.ToInt64(bytes, pos);
            if (BitConverter.ToUInt32(bytes, pos + 8) != Masked(TorchSharp.Utils.CRC32C.process(length))) throw new InvalidDataException("bad length CRC");
            if (length < 0 || pos + 16 + length > bytes.Length) throw new InvalidDataException($"truncated record at byte {pos}");
            var data = bytes.AsSpan(pos + 12, (int)length).ToArray();
            if (BitConverter.ToUInt32(bytes, pos + 12 + (int)length) != Masked(TorchSharp.Utils.CRC32C.process(data))) throw new InvalidDataException("bad data CRC");
            events.Add(Tensorboard.Event.Parser.ParseFrom(data));
            pos += 16 + (int)length;
        }
        return events;
    }

    /// <summary>TFRecord's CRC mask: rotate right by 15 bits and add a constant.</summary>
    static uint Masked(uint crc) => ((crc >> 15) | (crc << 17)) + 0xa282ead8u;

    /// <summary>The scalars of an event file (tag, step, value), in file order.</summary>
    public static List<(string Tag, long Step, float Value)> ReadScalars(string path) =>
        ReadEvents(path).Where(e => e.Summary is not null)
            .SelectMany(e => e.Summary.Value.Where(v => v.ValueCase == Tensorboard.Summary.Types.Value.ValueOneofCase.SimpleValue)
                                             .Select(v => (v.Tag, e.Step, v.SimpleValue)))
            .ToList();

    /// <summary>SummaryWriter opens, appends to and closes the file for every event: nothing stays open.</summary>
    public void Dispose() { }
}
