using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace ParNet.Cli;

/// <summary>
/// Option factories: numbers parse with the invariant culture (a German locale must not turn `--lr 0.1` into 1),
/// and a value that is absent reads as null, so each command states its own default beside the code that applies it.
/// Every option accepts `--name value` and `--name=value` (System.CommandLine).
/// </summary>
public static class CliOption
{
    /// <summary>The input side where the model decides (ModelConfig.DefaultImageSize), worded once for every command's help.</summary>
    public const string NaturalSide = "the model's natural side: 224 for ImageNet layouts, 32 for CIFAR ones, rounded up to a side the model " +
                                      "takes (256 for a 4-stream ImageNet layout)";

    /// <summary>The side of weights where none is stored (DeploymentInfo.SideFor), worded once for the commands that take --weights.</summary>
    public const string StoredSide = "the one stored with the weights, else for Fashion-MNIST's (MNIST's) weights the side its 28 px images " +
                                     "train at (32 for most models), else " + NaturalSide;

    public static Option<string?> Text(string name, string description, string helpName = "VALUE") =>
        new(name) { Description = description, HelpName = helpName };

    /// <summary>--dataset of train and eval, which read the data set's images: another spelling of a known name is taken as it
    /// (DataPipelines.CanonicalName), so that what a run stores and compares on a resume is one name.</summary>
    public static Option<string?> DatasetName(string description) => new("--dataset")
    {
        Description = description, HelpName = "NAME",
        CustomParser = r => r.Tokens.Count == 0 ? null : ParNet.Data.DataPipelines.CanonicalName(r.Tokens[0].Value),
    };

    /// <summary>An integer option; <paramref name="aliases"/>: older names still accepted (shown in help beside the name).</summary>
    public static Option<int?> Int(string name, string description, string helpName = "N", params string[] aliases) => new(name, aliases)
    {
        Description = description, HelpName = helpName,
        CustomParser = r => Parse(r, s => int.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture), "an integer"),
    };

    /// <summary>A finite number option; <paramref name="aliases"/>: older names still accepted.</summary>
    public static Option<double?> Number(string name, string description, string helpName = "X", params string[] aliases) => new(name, aliases)
    {
        Description = description, HelpName = helpName,
        CustomParser = r => Parse(r, Finite, "a finite number"),
    };

    /// <summary>A number as the user wrote it; NaN and the infinities (which double.Parse reads from "nan", "infinity", "∞")
    /// are refused here, so no command has to check them: no option means anything by them, and TimeSpan.FromMinutes and the
    /// like throw on them.</summary>
    static double Finite(string s)
    {
        double value = double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);
        return double.IsFinite(value) ? value : throw new FormatException($"{s} is not a finite number");
    }

    /// <summary>"a, b or c": the values an option takes, for its help.</summary>
    public static string OneOf(IReadOnlyList<string> values) => values.Count == 1 ? values[0] : string.Join(", ", values.Take(values.Count - 1)) + " or " + values[^1];

    /// <summary>A switch: `--json`, also `--json true|false`.</summary>
    public static Option<bool> Switch(string name, string description) => new(name) { Description = description };

    /// <summary>`--channels-last` of train and train-bench: on by default, `--channels-last false` keeps NCHW.</summary>
    public static Option<bool> ChannelsLast(string description) =>
        new("--channels-last") { Description = description + " (default on; --channels-last false keeps NCHW)", DefaultValueFactory = _ => true };

    /// <summary>The one refusal of a count below one (threads, images, steps...): "--threads 0: must be >= 1", with what the
    /// count is of where that helps; null (not given) passes.</summary>
    public static void RequireAtLeastOne(string option, int? value, string? of = null)
    {
        if (value is < 1) throw new UsageException($"{option} {value}: must be >= 1{(of is null ? "" : $" ({of})")}");
    }

    /// <summary>Where a thread count came from, for the warning that names it.</summary>
    public enum ThreadsSource
    {
        /// <summary>--threads, typed.</summary>
        Typed,
        /// <summary>--threads as a resumed run's run.json keeps it.</summary>
        RunJson,
        /// <summary>The command's default: the machine's logical cores shared among the processes on it (<see cref="DefaultThreads"/>).</summary>
        Default,
    }

    /// <summary>Threads per process without --threads: the logical cores shared among the processes on this machine, at
    /// least one (2 processes x 2 threads on 2 cores trained 2-4x slower than 2 x 1, README).</summary>
    public static int DefaultThreads(int processesOnThisMachine) => Math.Max(1, Environment.ProcessorCount / processesOnThisMachine);

    /// <summary>`--threads`: refused below one; more than the machine's cores (<see cref="ThreadsBeyondCores"/>, for
    /// <paramref name="processes"/> processes on it) is warned about on <paramref name="stderr"/> (null: not by this process,
    /// as a rank other than 0).</summary>
    public static void CheckThreads(int? threads, string command, TextWriter? stderr, int processes = 1, ThreadsSource source = ThreadsSource.Typed)
    {
        RequireAtLeastOne("--threads", threads);
        if (stderr is not null && ThreadsBeyondCores(threads, processes, source: source) is { } tooMany) stderr.WriteLine($"parnet {command}: warning: {tooMany}");
    }

    /// <summary>
    /// The warning for more threads than this machine has logical cores (null when they fit): libtorch's OpenMP threads
    /// spin while they wait for each other, so threads beyond the cores make a run slower, not faster (2 processes x 2
    /// threads on 2 cores trained 2-4x slower than 2 x 1, README). <paramref name="processes"/>: the processes on this
    /// machine that run that many threads each. <paramref name="source"/>: a default count (one thread per process once the
    /// processes outnumber the cores) is worded by the processes, not by a --threads never typed.
    /// </summary>
    public static string? ThreadsBeyondCores(int? threads, int processes = 1, int? cores = null, ThreadsSource source = ThreadsSource.Typed)
    {
        int logical = cores ?? Environment.ProcessorCount;
        if (threads is not int n || (long)n * processes <= logical) return null;
        const string slower = "wait for each other, which is slower, not faster";
        if (source == ThreadsSource.Default)
            return $"{processes} processes of {n} thread{(n == 1 ? "" : "s")} each on this machine's {logical} logical cores: " +
                   $"processes beyond the cores {slower} (start at most {logical} here)";
        string each = processes > 1 ? $" in each of {processes} processes" : "";
        string kept = source == ThreadsSource.RunJson ? ", kept from the resumed run's run.json," : "";
        return $"--threads {n}{each}{kept} is more than this machine's {logical} logical cores: threads beyond the cores {slower}";
    }

    /// <summary>The name the user typed for <paramref name="option"/> (an older alias is reported as typed), else its name.</summary>
    public static string Typed(this ParseResult parse, Option option) => parse.GetResult(option) is { } given ? Typed(given) : option.Name;

    /// <summary>The name the user typed for this option: an alias such as --size is reported as --size, not as --image-size.</summary>
    static string Typed(OptionResult given) => given.IdentifierToken?.Value ?? given.Option.Name;

    /// <summary>Whether the user wrote the option (a switch can be given as false, which differs from absent).</summary>
    public static bool Given(this ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

    public static void Add(this Command command, params Option[] options)
    {
        foreach (var option in options) command.Options.Add(option);
    }

    static T? Parse<T>(ArgumentResult result, Func<string, T> parse, string what) where T : struct
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        try { return parse(text); }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            string name = result.Parent is OptionResult o ? Typed(o) : "value";
            // an integer past int's range was "must be an integer" (an export audit of session 48)
            result.AddError(e is OverflowException ? $"{name} {text}: outside an integer's range ({int.MinValue:N0} to {int.MaxValue:N0})" : $"{name} must be {what} (got '{text}')");
            return null;
        }
    }
}
