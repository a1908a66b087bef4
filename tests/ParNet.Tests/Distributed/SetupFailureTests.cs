namespace ParNet.Tests.Distributed;

[Collection("mpi")]
public class SetupFailureTests
{
    static readonly string[] Tiny = ["train", "--width", "8", "--subset", "2", "--test-subset", "1", "--threads", "1", "--workers", "0", "--epochs", "1"];

    /// <summary>Only the lowest failing rank printed its setup error: a data folder missing on another host, with another
    /// path there, went unsaid (style review, session 29). Ranks that fail alike still print one line.</summary>
    [Fact]
    public void Ranks_whose_setup_fails_differently_each_say_why_and_ranks_that_fail_alike_say_it_once()
    {
        using var dir = new ParNet.Tests.Data.TempDirectory();
        string a = dir.File("no-data-a"), b = dir.File("no-data-b");
        var different = MpiJob.MpiExec(["-n", "1", .. MpiJob.ParnetCommand([.. Tiny, "--data", a, "--out", dir.File("run")]), ":",
                                        "-n", "1", .. MpiJob.ParnetCommand([.. Tiny, "--data", b, "--out", dir.File("run")])], timeoutSeconds: 120);
        Assert.Equal(2, different.Code);
        var lines = MpiJob.OurErrorLines(different.Err);
        Assert.Equal(2, lines.Length);
        Assert.Contains(lines, l => l.Contains($"--data {a}: no Fashion-MNIST IDX files") && !l.Contains("rank 1"));
        Assert.Contains(lines, l => l.Contains($"rank 1: --data {b}: no Fashion-MNIST IDX files"));

        var alike = MpiJob.Ranks(2, [.. Tiny, "--data", a, "--out", dir.File("run")]);
        Assert.Equal(2, alike.Code);
        Assert.Contains($"--data {a}: no Fashion-MNIST IDX files", Assert.Single(MpiJob.OurErrorLines(alike.Err)));
    }
}
