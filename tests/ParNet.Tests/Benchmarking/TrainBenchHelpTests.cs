using System.CommandLine;
using System.Text.RegularExpressions;
using ParNet.Cli;

namespace ParNet.Tests.Benchmarking;

/// <summary>train-bench's --help said --width defaults to the model of "the --weights/--pretrained file", options it refuses
/// (bench audit): every option its help names is one it takes.</summary>
public class TrainBenchHelpTests
{
    [Fact]
    public void Every_option_train_bench_help_names_is_one_it_takes()
    {
        var command = new TrainBenchCommand().Build(TextWriter.Null, TextWriter.Null);
        var taken = command.Options.SelectMany(o => o.Aliases.Append(o.Name)).ToHashSet();
        string help = string.Join("\n", command.Options.Select(o => o.Description));
        var named = Regex.Matches(help, @"(?<![\w-])--[a-z][a-z0-9-]*").Select(m => m.Value).Distinct().ToList();
        Assert.Contains("--model", named);   // the check reads the options' words at all
        Assert.DoesNotContain(named, name => !taken.Contains(name));
    }
}
