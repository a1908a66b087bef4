using System.CommandLine;
using System.Globalization;
using ParNet.Benchmarking;
using ParNet.Runtime;
using ParNet.Training;
using static TorchSharp.torch;

namespace ParNet.Cli;

/// <summary>`parnet train-bench`: training throughput (images/s) of a model on random data (<see cref="TrainingBenchmark"/>).</summary>
public sealed class TrainBenchCommand : CliCommand
{
    readonly TrainModelOptions _model = new("the recipe's width, unless --model/--config is given");
    readonly Option<int?> _size = CliOption.Int("--image-size", $"input side in pixels (default: {CliOption.NaturalSide}; --size: its older name)", "PX",
                                                aliases: "--size");   // the name every other command gives the input side; --size before
    readonly Option<int?> _batchSize = CliOption.Int("--batch-size", $"images per step in each process (default {TrainingBenchmarkOptions.DefaultBatch}: the fashion-mnist recipe's batch)");
    readonly Option<int?> _steps = CliOption.Int("--steps", $"timed steps (each round's, with --rounds), after {TrainingBenchmarkOptions.DefaultWarmup} untimed ones (default {TrainingBenchmarkOptions.DefaultSteps})");
    readonly Option<int?> _threads = CliOption.Int("--threads", "torch threads per process (default: the machine's logical cores, shared among the MPI processes on it)");
    readonly Option<bool> _bf16 = CliOption.Switch("--bf16", "bfloat16 convolutions, activations and classifier; BatchNorm layers and the optimizer's master weights float32 (as autocast)");
    readonly Option<bool> _channelsLast = CliOption.ChannelsLast("channels_last weights and batches, as the trainer runs");
    readonly Option<bool> _forwardOnly = CliOption.Switch("--forward-only", "time only the eval-mode forward pass under no_grad (inference cost of the same model)");
    readonly PyTorchCliOptions _pytorch = new("then time the same network built from the authors' released blocks on PyTorch, " +
        "same batch, steps and threads, in a child process (DIR: a checkout of github.com/imankgoyal/NonDeepNetworks); with --bf16 theirs under " +
        "torch.autocast, and their fp32 steps too", fixture: false);
    readonly Option<int?> _rounds = CliOption.Int("--rounds", "with --pytorch-code: time --steps of ours and of the authors' this many times in turn (one child process, both " +
        "warmed up once), who goes first alternating, and give the median of the per-round ratios (default 1; 5-10 on a shared machine whose speed drifts)");
    readonly Option<string?> _out = CliOption.Text("--out", $"also write {TrainingBenchmarkReport.FileName} there: the machine, command, load average " +
        "before and after, each round's rates and ratios and their median (default: none, the lines on stdout only)", "DIR");

    public override string Name => "train-bench";
    public override bool DataParallel => true;
    public override string Summary => "measure training throughput (forward+backward+SGD step) of the fashion-mnist recipe's model on random data";

    protected override void Declare(Command command)
    {
        _model.AddTo(command);
        command.Add(_size, _batchSize, _steps, _threads, _bf16, _channelsLast, _forwardOnly, _pytorch.Code, _rounds, _pytorch.Python, _out);
    }

    /// <summary>Under mpiexec -n N each process times N-way data-parallel steps (gradients all-reduced); rank 0 prints. As
    /// `parnet train` (<see cref="TrainLaunch"/>): a failure in one process's setup is said once for all, and one after it
    /// (the timed steps) ends the whole job instead of leaving the others waiting in a collective.</summary>
    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        using var group = ParNet.Distributed.MpiLaunch.Start();
        var launch = new TrainLaunch(group, Name);
        return launch.Run(() => Bench(parse, group.Rank == 0 ? stdout : TextWriter.Null, stderr, launch), stderr);
    }

    int Bench(ParseResult parse, TextWriter stdout, TextWriter stderr, TrainLaunch launch)
    {
        var group = launch.Group;
        var config = _model.Build(parse, Recipes.FashionMnist, "fashion-mnist", null);
        var options = new TrainingBenchmarkOptions
        {
            Model = config, ImageSize = parse.GetValue(_size) ?? config.DefaultImageSize,
            Batch = parse.GetValue(_batchSize) ?? TrainingBenchmarkOptions.DefaultBatch, Steps = parse.GetValue(_steps) ?? TrainingBenchmarkOptions.DefaultSteps,
            BFloat16 = parse.GetValue(_bf16), ChannelsLast = parse.GetValue(_channelsLast), ForwardOnly = parse.GetValue(_forwardOnly),
            Processes = group,
        };
        int? threadsGiven = parse.GetValue(_threads);
        int threads = threadsGiven ?? CliOption.DefaultThreads(group.ProcessesOnThisMachine);
        UsageException.WrapSettings(options.Validate);
        CliOption.CheckThreads(threads, Name, group.Rank == 0 ? stderr : null, group.ProcessesOnThisMachine,
                              threadsGiven is null ? CliOption.ThreadsSource.Default : CliOption.ThreadsSource.Typed);
        var pytorch = _pytorch.Read(parse);
        int? roundsGiven = parse.GetValue(_rounds);
        if (roundsGiven is not null && pytorch is null) throw new UsageException("--rounds goes with --pytorch-code DIR (rounds of ours against the authors')");
        int rounds = roundsGiven ?? 1;
        CliOption.RequireAtLeastOne("--rounds", rounds);
        if (pytorch is not null)
        {
            UsageException.WrapSettings(pytorch.RequireUsable);
            try { PyTorchTrainingReference.RequireComparable(pytorch, options, rounds); }
            catch (ArgumentException e) { throw new UsageException(OptionNames.Worded(e)); }   // its own words say when the processes are the reason
        }
        string? output = group.Rank == 0 ? parse.GetValue(_out) : null;   // rank 0 reports
        bool created = false;
        try { created = output is not null && OutputFolder.Prepare(output); }   // before the timing, not after
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UsageException($"--out {output}: cannot write there: {e.Message}"); }
        launch.SetupSucceeded();
        // ranks started with other steps left rank 0 printing its result and the others waiting in an all-reduce for ever (this
        // command has no collective timeout); another model failed in MPI's error code; another batch ran, its rate counted as
        // rank 0's batch times the processes (an MPI audit, session 46)
        if (launch.Distributed)
            launch.RequireSameSettings(string.Join("\n", config.ToJson(), options.ImageSize, options.Batch, options.Steps, options.BFloat16,
                                                   options.ChannelsLast, options.ForwardOnly), "other settings or another model");
        stdout.WriteLine($"cpu: {CpuCapabilities.Current.Describe()}");
        if (options.BFloat16 && group.Rank == 0 && CpuCapabilities.Current.Bf16Warning() is { } slow) stderr.WriteLine($"parnet train-bench: warning: --bf16: {slow}");
        set_num_threads(threads);
        string Setting(string precision) => $"{options.ImageSize}x{options.ImageSize} batch {options.Batch} {precision} " +
                                            $"{(options.ChannelsLast ? "channels_last" : "NCHW")} threads {threads}";
        string setting = Setting(options.BFloat16 ? "bf16" : "fp32");
        string OursLine(TrainingBenchmarkResult r)
        {
            string split = options.ForwardOnly ? string.Create(CultureInfo.InvariantCulture, $"(forward only, {r.ForwardMs:F0} ms per batch)") : Split(r);
            return string.Create(CultureInfo.InvariantCulture,
                $"{config.Name} {setting}{(group.Size > 1 ? $" x {group.Size} processes (batch per process)" : "")}: {r.ImagesPerSecond:0.#} img/s {split}");
        }
        var conditions = BenchmarkConditions.Start("parnet train-bench " + ShellWords.Join(Environment.GetCommandLineArgs().Skip(2)));
        TrainingBenchmarkReport Report(TrainingBenchmarkResult? ours, IReadOnlyList<PyTorchTrainingReference.Round> rounds) => new()
        {
            Options = options, Threads = threads, Conditions = conditions(), Ours = ours, Rounds = rounds,
        };
        void Written(TrainingBenchmarkReport report)
        {
            if (output is not null) stdout.WriteLine($"wrote {report.Write(output)}");
        }
        // Ctrl-C or SIGTERM ends the process as by default, after the PyTorch child and its scripts' folder in /tmp (they stayed)
        // and the empty --out folder made, with a line as bench's (it ended in silence: bench audit)
        using var signalled = new ManualResetEventSlim();
        using (new EndingSignals(signal =>
               {
                   PyTorchReference.AbandonChildren();
                   AtomicFile.AbandonWritesInProgress();   // a train-bench.json being written: its temporary file, which kept the folder
                   if (created) OutputFolder.RemoveIfEmpty(output!);
                   // rank 0 says it, as train does: under mpiexec every process heard the signal (review, session 48)
                   if (group.Rank == 0) stderr.WriteLine($"parnet train-bench: {EndingSignals.What(signal)} while timing: no result");
                   signalled.Set();
               }))
        {
            try { return pytorch is null ? Alone() : Against(pytorch); }
            catch (PyTorchReferenceFailedException) when (signalled.Wait(SignalGrace))
            {
                Thread.Sleep(Timeout.Infinite);   // the signal ends the process: the child died of it, which is no failure of its own
                throw;
            }
            catch when (created)   // the folder made for the report, still empty, goes (as bench's)
            {
                OutputFolder.RemoveIfEmpty(output!);
                throw;
            }
        }

        int Alone()
        {
            var ours = TrainingBenchmark.Run(options);
            stdout.WriteLine(OursLine(ours));
            Written(Report(ours, []));
            return 0;
        }

        int Against(PyTorchReferenceOptions pytorch)
        {
            string TheirsLine(PyTorchTrainingReference.Outcome peer, TrainingBenchmarkResult result, string precision) => string.Create(CultureInfo.InvariantCulture,
                $"authors' blocks on PyTorch {peer.TorchVersion} {Setting(precision)} " +
                $"(its threads {peer.Threads}, {peer.Parameters:N0} parameters as ours): {result.ImagesPerSecond:0.#} img/s {Split(result)}");
            var done = PyTorchTrainingReference.Compare(pytorch, options, threads, rounds, round =>
            {
                if (rounds > 1) stdout.WriteLine($"round {round.Index} of {rounds}, {(round.OursFirst ? "ours" : "the authors'")} first:");
                string indent = rounds > 1 ? "  " : "";
                stdout.WriteLine(indent + OursLine(round.Ours));
                stdout.WriteLine(indent + TheirsLine(round.Theirs, round.Theirs.Result, options.BFloat16 ? "bf16 (autocast)" : "fp32"));
                if (round.TheirsFloat32 is { } fp32) stdout.WriteLine(indent + TheirsLine(round.Theirs, fp32, "fp32"));
                if (rounds > 1) stdout.WriteLine(options.BFloat16
                    ? string.Create(CultureInfo.InvariantCulture, $"  ours / PyTorch this round: {round.Ratio:F2}x (autocast), {round.RatioToTheirFastest:F2}x (their faster precision)")
                    : string.Create(CultureInfo.InvariantCulture, $"  ours / PyTorch this round: {round.Ratio:F2}x"));
            });
            var report = Report(null, done);
            stdout.WriteLine(RatioLine("ours / PyTorch", report.Ratio!, options.BFloat16 ? " against their bf16 autocast" : ""));
            if (options.BFloat16)
                stdout.WriteLine(RatioLine("ours / PyTorch", report.RatioToTheirFastest!, " against the faster of their fp32 and bf16 autocast, round by round"));
            Written(report);
            return 0;
        }
    }

    /// <summary>How long a PyTorch child's death waits for the signal that may have killed it (Ctrl-C reaches the whole process
    /// group, the child often first): 1 s, far longer than a signal takes to be handled, short beside a real failure's report.</summary>
    internal static readonly TimeSpan SignalGrace = TimeSpan.FromSeconds(1);

    static string RatioLine(string what, RatioStats ratio, string against) => ratio.Rounds == 1
        ? string.Create(CultureInfo.InvariantCulture, $"{what}: {ratio.Median:F2}x the images per second{against} (same run, ours first)")
        : string.Create(CultureInfo.InvariantCulture, $"{what}: {ratio.Median:F2}x the images per second{against} (median of {ratio.Rounds} rounds, {ratio.Min:F2}-{ratio.Max:F2}x; who went first alternated)");

    static string Split(TrainingBenchmarkResult r) =>
        string.Create(CultureInfo.InvariantCulture, $"(per step: forward {r.ForwardMs:F0} ms, backward {r.BackwardMs:F0} ms, update {r.UpdateMs:F0} ms" +
            $"{(r.BytesPerStep > 0 ? $", gradient all-reduce {r.CommunicationMs:F1} ms for {r.BytesPerStep:N0} bytes" : "")})");
}
