using System.Diagnostics;
using System.Text.Json;

namespace ParNet.Benchmarking;

/// <summary>
/// A child process spoken to a line at a time: a line to its stdin, a line back from its stdout (the PyTorch reference
/// scripts in their serving modes). Its stderr is kept, and a child that dies or stops reading fails the call with the
/// end of it, as does one that gives no answer within its deadline (a hung child held bench and train-bench for ever: bench
/// audit). Disposing sends `quit`, waits 10 s (none after a missed deadline), then kills it, and deletes the folder its scripts were written to; a
/// process ending on a signal, which disposes nothing, does both at once first (<see cref="AbandonAll"/>).
/// </summary>
internal sealed class LineProtocolChild : IDisposable
{
    readonly string _program;
    readonly string _folder;
    readonly Process _process;
    readonly List<string> _stderr = [];
    readonly TimeSpan _deadline;
    /// <summary>A read of stdout that outlived its deadline: the child is taken for hung, and the next read would be this one.</summary>
    Task<string?>? _unanswered;
    bool _disposed;

    /// <summary>The children started and not yet disposed, for <see cref="AbandonAll"/>.</summary>
    static readonly System.Collections.Concurrent.ConcurrentDictionary<LineProtocolChild, byte> Live = new();

    /// <param name="deadline">the longest wait for a line (<see cref="PyTorchReferenceOptions.AnswerDeadline"/>)</param>
    public LineProtocolChild(string program, IEnumerable<string> args, string folder, TimeSpan deadline)
    {
        _program = program;
        _folder = folder;
        _deadline = deadline;
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        try
        {
            _process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {program}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            // not a program (--python naming an image, a folder, a file without execute permission): the OS's error with a stack
            // trace, exit 134 (bench/export audit, session 41)
            Directory.Delete(folder, recursive: true);
            throw new PyTorchReferenceFailedException($"PyTorch reference ({program}) could not be started: {e.Message}");
        }
        catch
        {
            Directory.Delete(folder, recursive: true);
            throw;
        }
        Live.TryAdd(this, 0);   // from its start: a signal from here on reaches it and its folder
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.Add(e.Data); };
        _process.BeginErrorReadLine();
    }

    /// <summary>Kills every child still running and deletes its scripts' folder, at once: for a process about to end on a
    /// signal (bench's left its /tmp/parnet-pytorch-* folder behind: audit of session 41). Best effort; the children are
    /// unusable after it.</summary>
    public static void AbandonAll()
    {
        // on the signal's thread, the process ending after it: nothing may escape (Kill throws an AggregateException for a
        // tree it could not end whole), and every child is tried
        foreach (var child in Live.Keys)
        {
            try { child._process.Kill(entireProcessTree: true); }
            catch (Exception) { }   // ended already, or part of its tree would not end
            try { if (Directory.Exists(child._folder)) Directory.Delete(child._folder, recursive: true); }
            catch (Exception) { }
        }
    }

    /// <summary>Sends <paramref name="command"/> and returns the line the child answers, within <paramref name="deadline"/>
    /// if given, else the child's.</summary>
    public string Ask(string command, TimeSpan? deadline = null)
    {
        try
        {
            _process.StandardInput.WriteLine(command);
            _process.StandardInput.Flush();
        }
        catch (IOException) { throw Failure("it stopped reading"); }
        return ReadLine(command, deadline);
    }

    /// <summary>The child's next line of stdout, within <paramref name="deadline"/> if given, else the child's;
    /// <paramref name="waitingFor"/> names it in the error if none comes.</summary>
    public string ReadLine(string waitingFor, TimeSpan? deadline = null)
    {
        var read = _unanswered ?? _process.StandardOutput.ReadLineAsync();
        TimeSpan limit = deadline ?? _deadline;
        if (!read.Wait(limit))
        {
            _unanswered = read;
            throw Failure(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"it gave no answer within {limit.TotalSeconds:0.#} s while this side waited for {waitingFor}, and is taken for hung"));
        }
        return read.Result ?? throw Failure($"it ended while this side waited for {waitingFor}");
    }

    /// <summary>Reads one JSON line of the child's with <paramref name="read"/>; a line that is not the JSON expected fails
    /// like a dead child, naming <paramref name="what"/> and quoting the line.</summary>
    public T ParseJson<T>(string line, string what, Func<JsonElement, T> read)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            return read(doc.RootElement);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw Failure($"it answered '{line}' for {what} ({e.Message})");
        }
    }

    /// <summary>An error naming the child, how it stands (its exit code if it ended) and the last 15 lines of its stderr.</summary>
    public PyTorchReferenceFailedException Failure(string what)
    {
        if (_process.WaitForExit(2000)) _process.WaitForExit();   // the wait without a limit also drains its stderr
        string exit = _process.HasExited ? $"exited with {_process.ExitCode}" : "is still running";
        string tail;
        lock (_stderr) tail = string.Join("\n", _stderr.TakeLast(15));
        return new PyTorchReferenceFailedException($"PyTorch reference ({_program}) {exit}; {what}:\n{tail}");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_process.HasExited)
        {
            try { _process.StandardInput.WriteLine("quit"); _process.StandardInput.Close(); }
            catch (IOException) { }
            if (!_process.WaitForExit(_unanswered is null ? 10_000 : 0)) _process.Kill(entireProcessTree: true);   // a hung child reads no quit
        }
        _process.Dispose();
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
        Live.TryRemove(this, out _);   // last: a signal during the 10 s wait above still finds its folder
    }
}

/// <summary>The PyTorch child of a benchmark ended or answered what it should not: its own words (the last lines of its stderr)
/// say why, which a front end prints as they are (a Python that is no PyTorch, a fixture it cannot read, a broken checkout).</summary>
public sealed class PyTorchReferenceFailedException(string message) : Exception(message);
