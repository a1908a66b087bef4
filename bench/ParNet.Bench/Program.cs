// `dotnet run -c Release --project bench/ParNet.Bench -- SUITE [options]`: each class implementing
// IBenchmark is a suite. A suite's header states what it measures and on what. `SUITE --help` lists its options.
using System.CommandLine;
using System.CommandLine.Invocation;
using ParNet.Bench;

var root = new RootCommand("ParNet benchmark suites; `SUITE --help` lists a suite's options");
foreach (var suite in typeof(IBenchmark).Assembly.GetTypes()
             .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
             .Select(t => ((IBenchmark)Activator.CreateInstance(t)!).Build())
             .OrderBy(c => c.Name, StringComparer.Ordinal))
    root.Subcommands.Add(suite);

var parse = root.Parse(args.Length == 0 ? ["--help"] : args);
if (parse.Errors.Count > 0 && parse.Action is not CommandLineAction { ClearsParseErrors: true })
{
    var command = parse.CommandResult.Command;
    Console.Error.WriteLine(ReferenceEquals(command, root)
        ? $"ParNet.Bench: {RootError()} (suites: {string.Join(", ", root.Subcommands.Select(c => c.Name))}; SUITE --help)"
        : $"{command.Name}: {parse.Errors[0].Message} ({command.Name} --help lists its options)");
    return 2;
}
try
{
    int code = parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    return args.Length == 0 ? 2 : code;   // a suite is required
}
catch (Exception e) when (e is NotSupportedException or FileNotFoundException or InvalidDataException or ArgumentException
                               or ParNet.Benchmarking.PyTorchReferenceFailedException)
{
    // a refusal with its reason (no CUDA provider in this build, a missing file, a PyTorch child's own words): one line, not a stack trace
    Console.Error.WriteLine($"{parse.CommandResult.Command.Name}: {e.Message}");
    return 1;
}

// before a suite: the word that is neither a suite nor an option of the root ("Required command was not provided" otherwise)
string RootError() => parse.UnmatchedTokens switch
{
    [var token, ..] when token.StartsWith('-') => $"unknown option '{token}'",
    [var token, ..] => $"no suite named '{token}'",
    _ => parse.Errors[0].Message,
};
