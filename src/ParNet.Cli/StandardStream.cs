namespace ParNet.Cli;

/// <summary>
/// Standard output or error as the commands write them: a write that fails (the stream closed, `>&-`; a full disk or
/// /dev/full) no longer throws into the command. A closed stdout was "parnet info: Access to the path is denied." (exit 2),
/// stopped `serve >&- &` before it listened and a `train` before its first step; predict blamed each image for it
/// ("img0.png: No space left on device"); a closed stderr ended any command that wrote a warning or an error with SIGABRT
/// (exit 134: the error's own line threw inside the catch that wrote it). Now the work goes on without the stream, and
/// <see cref="CommandRunner.Run"/> says on stderr, once the command is done, that stdout was lost (exit 1, as coreutils do).
/// </summary>
public sealed class StandardStream(TextWriter inner) : TextWriter
{
    /// <summary>Why the first failed write failed (null: none failed); everything after it was dropped.</summary>
    public string? Failure { get; private set; }

    public override System.Text.Encoding Encoding => inner.Encoding;

    public override void Write(char value) => Guard(() => inner.Write(value));
    public override void Write(string? value) => Guard(() => inner.Write(value));
    public override void Write(char[] buffer, int index, int count) => Guard(() => inner.Write(buffer, index, count));
    public override void WriteLine(string? value) => Guard(() => inner.WriteLine(value));
    public override void WriteLine() => Guard(inner.WriteLine);
    public override void Flush() => Guard(inner.Flush);

    void Guard(Action write)
    {
        if (Failure is not null) return;
        lock (this)   // the runtime's thread of a signal writes too (EndingSignals)
        {
            if (Failure is not null) return;
            try { write(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Failure = e is UnauthorizedAccessException ? "it is closed" : e.Message;
            }
        }
    }
}
