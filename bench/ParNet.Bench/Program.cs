// `dotnet run -c Release --project bench/ParNet.Bench -- SUITE [options]`: each class implementing
// IBenchmark is a suite. A suite's header states what it measures and on what.
using ParNet.Bench;

var suites = typeof(IBenchmark).Assembly.GetTypes()
    .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
    .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
    .OrderBy(s => s.Name, StringComparer.Ordinal)
    .ToList();

if (args.Length == 0 || suites.All(s => s.Name != args[0]))
{
    Console.Error.WriteLine("usage: ParNet.Bench SUITE [options]; suites: " + string.Join(", ", suites.Select(s => s.Name)));
    return 2;
}
try
{
    return suites.First(s => s.Name == args[0]).Run(args.Skip(1).ToArray());
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"{args[0]}: {e.Message}");
    return 2;
}
