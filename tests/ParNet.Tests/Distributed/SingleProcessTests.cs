using ParNet.Distributed;
using ParNet.Training;
using static TorchSharp.torch;

namespace ParNet.Tests.Distributed;

public class SingleProcessTests
{
    [Fact]
    public void Gradient_buckets_hold_parameters_in_reverse_order_up_to_the_byte_cap()
    {
        var ps = new[] { 10, 20, 30, 5 }.Select(n => new TorchSharp.Modules.Parameter(zeros(n))).ToArray();
        var buckets = new GradientBuckets(ps, new SingleProcess(), bucketBytes: 35 * 4);
        Assert.Equal([2, 2], buckets.BucketSizes);   // 5+30 | 20+10
        Assert.Equal(65 * 4, buckets.BytesPerStep);
    }

    [Fact]
    public void An_mpi_launch_is_detected_from_the_launchers_variables_only()
    {
        Assert.True(MpiLaunch.Detected(v => v == "PMI_RANK" ? "1" : null));
        Assert.True(MpiLaunch.Detected(v => v == "PMIX_RANK" ? "0" : null));
        Assert.False(MpiLaunch.Detected(v => v == "OMP_NUM_THREADS" ? "2" : null));
    }

    [Fact]
    public void Several_launched_processes_are_told_from_the_size_or_a_rank_above_0()
    {
        Assert.True(MpiLaunch.SeveralProcesses(v => v switch { "PMI_RANK" => "0", "PMI_SIZE" => "2", _ => null }));
        Assert.True(MpiLaunch.SeveralProcesses(v => v == "PMIX_RANK" ? "1" : null));
        Assert.False(MpiLaunch.SeveralProcesses(v => v switch { "PMI_RANK" => "0", "PMI_SIZE" => "1", _ => null }));   // mpiexec -n 1
        Assert.False(MpiLaunch.SeveralProcesses(_ => null));
    }

    [Fact]
    public void One_process_sums_nothing_and_reports_its_own_non_finite_loss()
    {
        var group = new SingleProcess();
        Assert.Equal((0.5, 3L, 8L), DataParallel.Step(group, 0.5, 3, 8) is var s ? (s.Loss, s.Correct, s.Count) : default);
        Assert.Equal([0], DataParallel.Step(group, double.NaN, 0, 8).NonFiniteRanks);
        Assert.Equal("runs/x", group.BroadcastText("runs/x"));
    }
}
