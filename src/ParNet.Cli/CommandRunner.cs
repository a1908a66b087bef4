using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using ParNet.Runtime;

namespace ParNet.Cli;

/// <summary>
/// Dispatches `parnet COMMAND ...` with System.CommandLine. Exit code 2 and one line `parnet COMMAND: message` on
/// stderr for user errors: a bad command line (unknown or misspelt option, missing or malformed value) and the
/// exceptions of <see cref="IsUserError"/>. Anything else is a bug and propagates with its stack trace.
/// </summary>
public static class CommandRunner
{
    public const int UsageExitCode = 2;

    /// <summary>A fresh instance of every command (each run builds its own command tree, bound to its writers).</summary>
    public static IReadOnlyList<CliCommand> CreateCommands() => typeof(CommandRunner).Assembly.GetTypes()
        .Where(t => typeof(CliCommand).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
        .Select(t => (CliCommand)Activator.CreateInstance(t)!)
        .OrderBy(c => c.Name, StringComparer.Ordinal)
        .ToList();

    public static RootCommand CreateRoot(TextWriter stdout, TextWriter stderr) => CreateRoot(CreateCommands(), stdout, stderr);

    static RootCommand CreateRoot(IReadOnlyList<CliCommand> commands, TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("parnet: ParNet (\"Non-deep Networks\") models on TorchSharp. `parnet COMMAND --help` lists a command's options.");
        foreach (var command in commands) root.Subcommands.Add(command.Build(stdout, stderr));
        return root;
    }

    /// <summary>
    /// Whether the current folder was deleted after the shell entered it, said in one line: every command that loads libtorch
    /// then died with "Intel oneMKL FATAL ERROR: Cannot load .../libtorch_cpu.so" and a train without --out with
    /// "Unable to find the specified file." (environment audit, session 37). Checked before anything loads.
    /// </summary>
    public static bool CurrentFolderGone(TextWriter stderr)
    {
        try
        {
            _ = Environment.CurrentDirectory;
            return false;
        }
        catch (FileNotFoundException)
        {
            stderr.WriteLine("parnet: the current folder no longer exists (deleted after the shell entered it): cd to one that does");
            return true;
        }
    }

    /// <summary>Runs the command of <paramref name="argv"/>; its exit code. Writers that are <see cref="StandardStream"/>s
    /// (the process's own) and failed: a command that succeeded without its stdout says so, and exits 1 when its results
    /// were to be printed there (<see cref="CliCommand.ResultsOnStdout"/>).</summary>
    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        int code = Dispatch(argv, stdout, stderr, out string prefix, out var command);
        if (code == 0 && stdout is StandardStream { Failure: { } lost })
        {
            bool resultsLost = command?.ResultsOnStdout ?? true;
            stderr.WriteLine($"{prefix}: {(resultsLost ? "" : "warning: ")}standard output could not be written ({lost}): what the command " +
                             $"printed there is lost{(resultsLost ? "" : " (its results are in its files)")}");
            return resultsLost ? 1 : 0;
        }
        return code;
    }

    static int Dispatch(string[] argv, TextWriter stdout, TextWriter stderr, out string prefix, out CliCommand? ran)
    {
        prefix = "parnet";
        ran = null;
        var commands = CreateCommands();
        var root = CreateRoot(commands, stdout, stderr);
        // no response files: `@name` is an ordinary argument (an image file may be called that)
        var parse = root.Parse(argv.Length == 0 ? ["--help"] : argv, new ParserConfiguration { ResponseFileTokenReplacer = null });
        var invocation = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        if (argv.Length == 0)
        {
            parse.Invoke(invocation);
            return UsageExitCode;   // a command is required
        }

        var command = parse.CommandResult.Command;
        prefix = ReferenceEquals(command, root) ? "parnet" : $"parnet {command.Name}";
        ran = commands.FirstOrDefault(c => c.Name == command.Name);
        // a path of bytes that are not UTF-8 reaches .NET with U+FFFD in their place: --out wrote another folder than named
        if (argv.FirstOrDefault(a => a.Contains('\uFFFD')) is { } garbled && RawArguments.AnyNotUtf8)
        {
            stderr.WriteLine($"{prefix}: '{garbled}' holds bytes that are not UTF-8 (shown as \uFFFD): .NET would use another name than " +
                             "the one given; rename the file or folder (e.g. convmv -f latin1 -t utf8)");
            if (ran is { DataParallel: true }) EndTheOtherProcesses();
            return UsageExitCode;
        }
        bool helpOrVersion = parse.Action is CommandLineAction { ClearsParseErrors: true };
        // `parnet evaluate --help` printed the root's help and exited 0 without a word of the unknown command (help audit, session 41)
        bool helpOfUnknownCommand = helpOrVersion && ReferenceEquals(command, root) && parse.UnmatchedTokens.Count > 0 && !parse.UnmatchedTokens[0].StartsWith('-');
        // `mpiexec -n N parnet train --help` (or --version) printed it N times (an MPI audit, session 46): rank 0 prints it
        if (helpOrVersion && ParNet.Distributed.MpiLaunch.SeveralProcesses() && ParNet.Distributed.MpiLaunch.LaunchedRank() > 0)
            return helpOfUnknownCommand ? UsageExitCode : 0;
        // one process's command under `mpiexec -n N`: every process did the whole work into the same files (eval's report,
        // a study's cells, one crashing on the other's: MPI audit, session 43), or printed the same parse error; rank 0 says
        // it, once
        if (!helpOrVersion && ran is { DataParallel: false } && ParNet.Distributed.MpiLaunch.SeveralProcesses())
        {
            if (ParNet.Distributed.MpiLaunch.LaunchedRank() > 0) return UsageExitCode;
            bool threads = command.Options.Any(o => o.Name == "--threads");
            stderr.WriteLine($"{prefix}: one process's work: start parnet {ran.Name} without mpiexec{(threads ? " (--threads N gives it the cores)" : "")}; " +
                             $"{string.Join(" and ", commands.Where(c => c.DataParallel).Select(c => c.Name))} run as several processes");
            return UsageExitCode;
        }
        if ((parse.Errors.Count > 0 && !helpOrVersion) || helpOfUnknownCommand)
        {
            stderr.WriteLine($"{prefix}: {ErrorLine(parse, root)}");
            if (ran is { DataParallel: true }) EndTheOtherProcesses();
            return UsageExitCode;
        }
        if (!helpOrVersion && EmptyValue(parse) is { } empty)
        {
            stderr.WriteLine($"{prefix}: {empty}");
            if (ran is { DataParallel: true }) EndTheOtherProcesses();
            return UsageExitCode;
        }

        try { return parse.Invoke(invocation); }
        catch (Exception e) when (IsUserError(e))
        {
            stderr.WriteLine($"{prefix}: {OptionNames.Worded(e)}");
            return UsageExitCode;
        }
        catch (ParNet.Benchmarking.PyTorchReferenceFailedException e)   // the child's own words; no stack trace of ours
        {
            stderr.WriteLine($"{prefix}: {e.Message}");
            return 1;
        }
        catch (System.Runtime.InteropServices.ExternalException e) when (OutOfMemory(e) is string line)
        {
            stderr.WriteLine($"{prefix}: {line}");
            return UsageExitCode;
        }
        // ONNX Runtime's arena and .NET's own allocations: a stack trace and exit 134 where libtorch's gave one line (bench/export audit, session 41)
        catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException e) when (OnnxOutOfMemory(e) is string line)
        {
            stderr.WriteLine($"{prefix}: {line}");
            return UsageExitCode;
        }
        catch (OutOfMemoryException)
        {
            stderr.WriteLine($"{prefix}: out of memory ({MachineMemory.GiB(MachineMemory.AvailableBytes)} available here); " + OutOfMemoryAdvice);
            return UsageExitCode;
        }
    }

    /// <summary>
    /// A data-parallel command (<see cref="CliCommand.DataParallel"/>) whose command line does not parse on one MPI process
    /// never joins the others, which then waited in MPI_Init for ever (a rank given --bogus: the job hung until killed).
    /// It joins them and ends the job (MPI_Abort, exit code 2) after its one line.
    /// </summary>
    static void EndTheOtherProcesses()
    {
        if (!ParNet.Distributed.MpiLaunch.SeveralProcesses()) return;
        try
        {
            using var group = ParNet.Distributed.MpiLaunch.Start();
            group.Abort(UsageExitCode);
        }
        catch (Exception) { }   // best effort after the user's line (no MPI library here): the exit code stays 2, no stack trace
    }

    /// <summary>
    /// libtorch's allocator failing (a tensor larger than the machine's memory: an input side, batch or width the user
    /// chose) as one line, in place of its native stack trace; null for any other native error.
    /// </summary>
    public static string? OutOfMemory(System.Runtime.InteropServices.ExternalException e)
    {
        var asked = System.Text.RegularExpressions.Regex.Match(e.Message, @"can't allocate memory: you tried to allocate (\d+) bytes");
        return asked.Success
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"out of memory: a tensor of {MachineMemory.GiB(double.Parse(asked.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))} " +
                $"did not fit ({MachineMemory.GiB(MachineMemory.AvailableBytes)} here); ") + OutOfMemoryAdvice
            : null;
    }

    /// <summary>An option or argument given as "" (a script's "$VAR" of an unset variable): no option takes an empty value, and
    /// paths met Path.GetFullPath(""), whose ArgumentException ended the process with a stack trace (exit 134) after loading
    /// everything (bench/export audit, session 41).</summary>
    static string? EmptyValue(ParseResult parse)
    {
        foreach (var child in parse.CommandResult.Children)
            if (child.Tokens.Any(t => t.Value.Length == 0))
                return child switch
                {
                    OptionResult o => $"{parse.Typed(o.Option)}: an empty value (an unset shell variable?)",
                    ArgumentResult a => $"{a.Argument.Name}: an empty value (an unset shell variable?)",
                    _ => "an empty value (an unset shell variable?)",
                };
        return null;
    }

    /// <summary>What every out-of-memory line ends with: the user's levers.</summary>
    const string OutOfMemoryAdvice = "a smaller batch, input size or model";

    /// <summary>ONNX Runtime's "Failed to allocate memory for requested buffer of size N", in one line; null for its other errors.</summary>
    public static string? OnnxOutOfMemory(Microsoft.ML.OnnxRuntime.OnnxRuntimeException e)
    {
        var asked = System.Text.RegularExpressions.Regex.Match(e.Message, @"Failed to allocate memory for requested buffer of size (\d+)");
        return asked.Success
            ? $"out of memory: ONNX Runtime could not allocate {MachineMemory.GiB(double.Parse(asked.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))} " +
              $"({MachineMemory.GiB(MachineMemory.AvailableBytes)} available here); " + OutOfMemoryAdvice
            : null;
    }

    /// <summary>The first parse error, in our words for the common cases (unknown command, unknown option).</summary>
    static string ErrorLine(ParseResult parse, RootCommand root)
    {
        if (ReferenceEquals(parse.CommandResult.Command, root) && parse.UnmatchedTokens.Count > 0 && !parse.UnmatchedTokens[0].StartsWith('-'))
            return $"unknown command '{parse.UnmatchedTokens[0]}'; commands: {string.Join(", ", root.Subcommands.Select(c => c.Name))}";
        var unknown = parse.UnmatchedTokens.Where(t => t.StartsWith('-') && t.Length > 1 && !double.TryParse(t, out _)).ToList();
        if (unknown.Count > 0)
            return $"unknown option{(unknown.Count > 1 ? "s" : "")}: {string.Join(", ", unknown)} (see --help)";
        // System.CommandLine's "Required argument missing for command: 'predict'." does not say which argument
        if (parse.Errors[0].Message.StartsWith("Required argument missing for command", StringComparison.Ordinal) &&
            parse.CommandResult.Command.Arguments.FirstOrDefault(a => a.Arity.MinimumNumberOfValues > 0) is { } argument)
            return $"missing {argument.Name}: {argument.Description}";
        // "Required argument missing for option: '--ema'." reads as a missing option; it is the option's value
        var valueMissing = System.Text.RegularExpressions.Regex.Match(parse.Errors[0].Message, @"^Required argument missing for option: '(.+)'\.$");
        if (valueMissing.Success && parse.CommandResult.Command.Options.FirstOrDefault(o => o.Name == valueMissing.Groups[1].Value ||
                                                                                      o.Aliases.Contains(valueMissing.Groups[1].Value)) is { } option)
            return $"{valueMissing.Groups[1].Value} needs a value{(option.HelpName is { } name ? $", {name}" : "")}: {option.Description}";
        return parse.Errors[0].Message;
    }

    /// <summary>
    /// Failures caused by the user's input, not by a bug: the CLI's own <see cref="UsageException"/> (which also wraps the
    /// ArgumentExceptions of library calls that validate user input, see <see cref="UsageException.Wrap{T}"/>), and missing,
    /// unreadable or malformed files (weights, configurations, data, images), and I/O failures of the paths the user chose
    /// (a full disk, an output path under a regular file, an --out that is a file): IOException, whose messages name the
    /// path. A plain ArgumentException is not here: from inside the library it is a bug and keeps its stack trace.
    /// </summary>
    public static bool IsUserError(Exception e) => e is UsageException or IOException or InvalidDataException
        or UnauthorizedAccessException or System.Text.Json.JsonException;
}
