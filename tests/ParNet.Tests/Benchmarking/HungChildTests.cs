using ParNet.Benchmarking;
using ParNet.Models;
using ParNet.Tests.Export;

namespace ParNet.Tests.Benchmarking;

/// <summary>
/// A PyTorch child that stops answering (a stand-in for Python: a shell script that says a line on stderr and sleeps) held
/// bench and train-bench for ever, with no word (bench audit): each answer now has a deadline, and a missed one fails the
/// run with the child's own last words. The deadlines here are seconds; the default is minutes.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]   // the stand-in for Python is a shell script
public class HungChildTests
{
    static string Script(ExportTempFolder folder, string body) => PyTorchReferenceTests.FakePython(folder, body);

    [Fact]
    public void A_bench_child_that_stops_answering_a_run_fails_it_with_its_stderr()
    {
        using var folder = new ExportTempFolder();
        // answers its header and ping, as pytorch_reference.py does, then hangs on the first run
        string python = Script(folder, """
            echo '{"torch": "9", "threads": 1, "rows": [{"key": "pytorch-resnet18", "name": "x"}]}'
            while read l; do case "$l" in ping) echo pong ;; run*) echo "stuck in the forward pass" >&2; sleep 1000 ;; quit) exit 0 ;; esac; done
            """);
        var options = new InferenceBenchmarkOptions { Model = ModelRegistry.Get("parnet_cifar_small"), Threads = 1 };
        using var session = PyTorchReference.Start(new PyTorchReferenceOptions { Python = python, AnswerDeadline = TimeSpan.FromSeconds(2) },
                                                   options, new HashSet<string> { "pytorch-resnet18" });
        Assert.True(session.RoundTrip() >= 0);   // it answers until the run
        var e = Assert.Throws<PyTorchReferenceFailedException>(() => session.Run(0, 1));
        Assert.Equal($"PyTorch reference ({python}) is still running; it gave no answer within 2 s while this side waited for run 0 1 0, " +
                     "and is taken for hung:\nstuck in the forward pass", e.Message);
    }

    [Fact]
    public void A_training_child_that_never_answers_fails_the_comparison_with_its_stderr()
    {
        using var folder = new ExportTempFolder();
        string python = Script(folder, "echo 'importing torch' >&2; sleep 1000");
        var model = ModelRegistry.Get("parnet_cifar_small") with
        {
            Planes = [4, 8, 16], FinalWidth = 16, BlocksPerStream = [1, 1, 1], InChannels = 1, NumClasses = 10, HeadDropout = 0, BlockDropout = 0,
        };
        var options = new ParNet.Benchmarking.TrainingBenchmarkOptions { Model = model, Batch = 2, Steps = 1, Warmup = 0 };
        var p = new PyTorchReferenceOptions { AuthorsCode = "/authors", Python = python, AnswerDeadline = TimeSpan.FromSeconds(2) };
        var e = Assert.Throws<PyTorchReferenceFailedException>(() => PyTorchTrainingReference.Compare(p, options, 1, 1));
        Assert.StartsWith($"PyTorch reference ({python}) is still running; it gave no answer within ", e.Message);
        Assert.EndsWith(" while this side waited for its warm-up steps, and is taken for hung:\nimporting torch", e.Message);
    }
}
