using System.Reflection;

namespace ParNet.Cli;

/// <summary>Dispatches `parnet COMMAND ...` and turns every expected failure into one line on stderr.</summary>
public static class CommandRunner
{
    public static IReadOnlyList<ICommand> Commands { get; } = typeof(CommandRunner).Assembly.GetTypes()
        .Where(t => typeof(ICommand).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
        .Select(t => (ICommand)Activator.CreateInstance(t)!)
        .OrderBy(c => c.Name, StringComparer.Ordinal)
        .ToList();

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        if (argv.Length == 0 || argv[0] is "-h" or "--help" or "help")
        {
            stdout.WriteLine("usage: parnet COMMAND [options]   (parnet COMMAND --help for its options)");
            foreach (var c in Commands) stdout.WriteLine($"  {c.Name,-10} {c.Summary}");
            return argv.Length == 0 ? 2 : 0;
        }

        var command = Commands.FirstOrDefault(c => c.Name == argv[0]);
        if (command is null)
        {
            stderr.WriteLine($"parnet: unknown command '{argv[0]}'; commands: {string.Join(", ", Commands.Select(c => c.Name))}");
            return 2;
        }

        try
        {
            var args = CliArgs.Parse(argv.Skip(1));
            if (args.Flag("help") || args.Flag("h"))
            {
                stdout.WriteLine(command.Usage);
                return 0;
            }
            int code = command.Run(args, stdout);
            args.ThrowIfUnused();
            return code;
        }
        catch (Exception e) when (IsUserError(e))
        {
            stderr.WriteLine($"parnet {command.Name}: {e.Message}");
            return 2;
        }
    }

    /// <summary>Errors caused by the user's input (arguments, files, configurations), not by a bug.</summary>
    static bool IsUserError(Exception e) => e is UsageException or ArgumentException or FileNotFoundException
        or DirectoryNotFoundException or InvalidDataException or UnauthorizedAccessException
        or System.Text.Json.JsonException or OperationCanceledException;
}
