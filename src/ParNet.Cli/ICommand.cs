namespace ParNet.Cli;

/// <summary>One sub-command of `parnet`. Implementations are discovered by reflection.</summary>
public interface ICommand
{
    string Name { get; }

    /// <summary>One line for `parnet --help`.</summary>
    string Summary { get; }

    /// <summary>The usage text printed by `parnet NAME --help`.</summary>
    string Usage { get; }

    /// <summary>Runs the command; returns the process exit code. Throw <see cref="UsageException"/> for bad input.</summary>
    int Run(CliArgs args, TextWriter stdout);
}

/// <summary>Bad input from the user: reported as one line, exit code 2, no stack trace.</summary>
public sealed class UsageException(string message) : Exception(message);
