using System.CommandLine;

namespace ParNet.Bench;

/// <summary>
/// One benchmark suite, run by name: a System.CommandLine command whose options are declared once (help is
/// generated from them; an unknown option is an error). Results are printed and written as files the suite names.
/// </summary>
public interface IBenchmark
{
    /// <summary>The suite's command: name, description, options and the action that runs it (returns the exit code).</summary>
    Command Build();
}

/// <summary>Option factories of the suites: counts (positive, or zero for none) and the model.</summary>
static class SuiteOption
{
    public static Option<int> PositiveInt(string name, int defaultValue, string description) => AtLeast(1, name, defaultValue, description);

    /// <summary><paramref name="option"/> also under an older name (RESULTS.md's recorded commands keep working).</summary>
    public static Option<T> WithAlias<T>(Option<T> option, string alias)
    {
        option.Aliases.Add(alias);
        return option;
    }

    /// <summary>A number from 0 up (a seed), with its default.</summary>
    public static Option<int> NonNegativeInt(string name, int defaultValue, string description) => AtLeast(0, name, defaultValue, description);

    /// <summary>An optional count: 0 (the default) means none.</summary>
    public static Option<int> CountOrNone(string name, string description) => AtLeast(0, name, 0, description);

    static Option<int> AtLeast(int minimum, string name, int defaultValue, string description)
    {
        var option = new Option<int>(name) { Description = description, HelpName = "N", DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(r =>
        {
            // the name typed: an older alias (--runs) is reported as --runs, not as the option's name
            if (r.GetValueOrDefault<int>() < minimum) r.AddError($"{r.IdentifierToken?.Value ?? name} must be an integer >= {minimum}");
        });
        return option;
    }

    /// <summary>A registered ParNet (the suites that take it fuse it or time its streams: a ResNet has neither).</summary>
    public static Option<string> Model() => new Option<string>("--model")
    {
        Description = "a registered ParNet (default parnet_s: the paper's headline model)", HelpName = "NAME", DefaultValueFactory = _ => "parnet_s",
    }.AcceptOnlyFromAmong([.. ParNet.Models.ModelRegistry.Names.Where(n => ParNet.Models.ModelRegistry.Get(n).BlockType == ParNet.Models.BlockType.RepVggSse)]);

    /// <summary>The machine a suite measured on, for its header (the build machines differ: Zen 3 with AVX2 only, Zen 4 and Zen 5 with AVX-512; 2-3x apart).</summary>
    public static string Machine() => $"{Environment.ProcessorCount} cores, {ParNet.Runtime.CpuCapabilities.Current.Describe()}";

    public static Command WithOptions(this Command command, params Option[] options)
    {
        foreach (var option in options) command.Options.Add(option);
        return command;
    }
}
