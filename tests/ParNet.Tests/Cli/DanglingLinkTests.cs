using ParNet.Runtime;
using ParNet.Tests.Data;

namespace ParNet.Tests.Cli;

/// <summary>An output folder given as a link to nothing is named as such; .NET said only "The file 'PATH' already exists."</summary>
public class DanglingLinkTests
{
    [Fact]
    public void A_link_to_nothing_is_told_from_a_live_link_and_a_plain_path()
    {
        using var dir = new TempDirectory();
        string dangling = dir.File("dangling"), live = dir.File("live"), missing = dir.File("missing");
        File.CreateSymbolicLink(dangling, missing);
        File.CreateSymbolicLink(live, dir.Path);
        Assert.Equal($"{dangling} is a link to {missing}, which does not exist", RealPath.DanglingLink(dangling));
        Assert.Equal($"{dangling}/ is a link to {missing}, which does not exist", RealPath.DanglingLink(dangling + "/"));   // --out run/
        Assert.Null(RealPath.DanglingLink(live));
        Assert.Null(RealPath.DanglingLink(missing));   // no link at all
        Assert.Null(RealPath.DanglingLink(dir.Path));
    }

    [Fact]
    public void Train_and_bench_name_the_link_and_its_missing_target()
    {
        using var dir = new TempDirectory();
        string link = dir.File("run"), target = dir.File("gone");
        File.CreateSymbolicLink(link, target);
        CliRunner.AssertUserError(CliRunner.Run("train", "--subset", "1", "--test-subset", "1", "--epochs", "1", "--width", "4", "--threads", "1", "--out", link),
                                  $"parnet train: the run folder {link} cannot be written: {link} is a link to {target}, which does not exist");
        CliRunner.AssertUserError(CliRunner.Run("bench", "--model", "parnet_cifar_small", "--only", "fused", "--rounds", "1", "--out", link),
                                  $"parnet bench: --out {link}: cannot write there: {link} is a link to {target}, which does not exist");
        Assert.False(Path.Exists(target));
    }
}
