using System.CommandLine;

namespace ParNet.Cli;

/// <summary>
/// One sub-command of `parnet`: its options are declared once (<see cref="Declare"/>), System.CommandLine parses them
/// and generates `parnet NAME --help` from the declarations. Implementations are discovered by reflection.
/// </summary>
public abstract class CliCommand
{
    public abstract string Name { get; }

    /// <summary>One line for `parnet --help`, and the first line of `parnet NAME --help`.</summary>
    public abstract string Summary { get; }

    /// <summary>
    /// Whether the command runs as one of several MPI processes (train, train-bench): a process of it whose command line
    /// does not parse must still join the others and end the job, or they wait in MPI_Init for ever.
    /// </summary>
    public virtual bool DataParallel => false;

    /// <summary>Whether what the command is run for is printed on stdout (info, predict, eval, bench...): when stdout cannot
    /// be written, a success then exits 1. Train, study and serve print progress there; their results are files and
    /// answers over HTTP, and a lost stdout is a warning (a daemon's `serve >&- &` shut down cleanly, exit 0).</summary>
    public virtual bool ResultsOnStdout => true;

    /// <summary>Whether the command only writes a file, whose write Ctrl-C or SIGTERM then abandons without leaving its
    /// temporary file (<see cref="ParNet.Runtime.AtomicFile.AbandonWritesInProgress"/>, on <see cref="EndingSignals"/>); commands that
    /// handle the signals themselves (train, serve) do not.</summary>
    protected virtual bool WritesAFile => false;

    /// <summary>Adds the command's options and arguments.</summary>
    protected abstract void Declare(Command command);

    /// <summary>Runs the parsed command; returns the exit code. Throw <see cref="UsageException"/> for bad input.</summary>
    protected abstract int Run(ParseResult parse, TextWriter stdout, TextWriter stderr);

    public Command Build(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command(Name, Summary);
        Declare(command);
        command.SetAction(parse =>
        {
            using var abandon = WritesAFile ? new EndingSignals(signal => SayAbandoned(signal, ParNet.Runtime.AtomicFile.AbandonWritesInProgress(), stderr)) : null;
            return Run(parse, stdout, stderr);
        });
        return command;
    }

    /// <summary>The line a signal's end of a file-writing command leaves: what it did not write. It ended without a word.</summary>
    void SayAbandoned(System.Runtime.InteropServices.PosixSignal signal, IReadOnlyList<string> abandoned, TextWriter stderr)
    {
        string what = abandoned.Count == 0 ? "no file was being written"
            : $"{string.Join(", ", abandoned)} not written (left as {(abandoned.Count == 1 ? "it was" : "they were")})";
        try { stderr.WriteLine($"parnet {Name}: {EndingSignals.What(signal)}; {what}"); }
        catch (IOException) { }   // a stderr that cannot be written: ending anyway
    }
}
