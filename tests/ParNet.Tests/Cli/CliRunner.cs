using ParNet.Cli;

namespace ParNet.Tests.Cli;

/// <summary>Runs `parnet ARGS` in-process and captures what a user would see.</summary>
public static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CommandRunner.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>A user error: exit code 2, exactly one line on stderr containing the message, no stack trace.</summary>
    public static void AssertUserError((int Code, string Out, string Err) result, string message)
    {
        Assert.Equal(2, result.Code);
        var lines = result.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(message, lines[0]);
        Assert.DoesNotContain("   at ", result.Err);
    }

    /// <summary>A tiny Fashion-MNIST run in <paramref name="run"/> (width 8, one epoch, 5 training and 1 test image per
    /// class) with <paramref name="options"/> added; fails the test unless it trains; what train printed.</summary>
    public static (int Code, string Out, string Err) TrainTiny(string run, params string[] options)
    {
        var result = Run(["train", "--subset", "5", "--test-subset", "1", "--epochs", "1", "--width", "8", .. options, "--out", run]);
        Assert.True(result.Code == 0, result.Err + result.Out);
        return result;
    }
}
