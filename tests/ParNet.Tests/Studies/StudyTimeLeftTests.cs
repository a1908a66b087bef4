using ParNet.Studies;

namespace ParNet.Tests.Studies;

public class StudyTimeLeftTests
{
    static CellRun Run(string cell, int seed, double seconds) => new(cell, seed, 0.9, 1000, 12, 1.0, seconds);

    [Fact]
    public void A_cell_with_finished_seeds_takes_their_mean_and_one_without_its_compute_at_the_finished_runs_rate()
    {
        var left = new StudyTimeLeft(new Dictionary<string, double> { ["narrow"] = 1.0, ["wide"] = 4.0 });
        Assert.Null(left.Left(["narrow", "wide"]));   // nothing finished: no estimate
        left.Finished(Run("narrow", 0, 10));
        left.Finished(Run("narrow", 1, 20));
        // narrow: 15 s a seed; wide, none finished: 4 units of compute at 30 s / 2 units = 60 s
        Assert.Equal(TimeSpan.FromSeconds(15 + 60 + 60), left.Left(["narrow", "wide", "wide"]));
        left.Finished(Run("wide", 0, 100));   // its own seed replaces the guess from compute
        Assert.Equal(TimeSpan.FromSeconds(100), left.Left(["wide"]));
        Assert.Equal(TimeSpan.Zero, left.Left([]));
    }

    [Fact]
    public void The_rate_for_an_unfinished_cell_weighs_every_finished_run_by_its_compute()
    {
        var left = new StudyTimeLeft(new Dictionary<string, double> { ["a"] = 1.0, ["b"] = 3.0, ["c"] = 2.0 });
        left.Finished(Run("a", 0, 10));
        left.Finished(Run("b", 0, 50));
        // (10 + 50) s over (1 + 3) units: 15 s per unit, so c's 2 units are 30 s
        Assert.Equal(TimeSpan.FromSeconds(30), left.Left(["c"]));
    }
}
