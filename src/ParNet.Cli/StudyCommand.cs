using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using ParNet.Data;
using ParNet.Runtime;
using ParNet.Studies;
using static TorchSharp.torch;

namespace ParNet.Cli;

/// <summary>`parnet study NAME`: one of the paper's studies (Tables 7-11, Figure 3) on Fashion-MNIST (<see cref="StudyRunner"/>).</summary>
public sealed class StudyCommand : CliCommand
{
    readonly Argument<string?> _name = new("NAME") { Description = $"the study: {string.Join(", ", StudyCatalog.Names)}", Arity = ArgumentArity.ZeroOrOne };
    readonly Option<bool> _list = CliOption.Switch("--list", "print every study's grid (cells, parameters, depth) and its claims, then exit");
    readonly Option<string?> _scale = CliOption.Text("--scale", "small (default: 6 epochs on 1,000 training and 500 test images per class; on 2 cores, alone: block-type 43 min and streams 54 on the slower Zen 3, streams 40 and ensemble 42 on Zen 4; scaling's 21 runs an estimated 85 min on Zen 3; RESULTS.md) or full (all data, 30 epochs)", "small|full");
    readonly Option<int?> _seeds = CliOption.Int("--seeds", "seeds per cell (default 3: the spread the verdicts need)");
    readonly Option<int?> _epochs = CliOption.Int("--epochs", "epochs per cell (default: the scale's)");
    readonly Option<int?> _subset = CliOption.Int("--subset", "training images per class (default: the scale's)");
    readonly Option<int?> _testSubset = CliOption.Int("--test-subset", "test images per class (default: the scale's)");
    readonly Option<int?> _steps = CliOption.Int("--steps", "stop each cell after N steps: a quick check that the study runs end to end (a plumbing run); its numbers mean nothing");
    readonly Option<string?> _data = CliOption.Text("--data", $"Fashion-MNIST's folder (default: {DataLocations.LocalFashionMnist}, then {DataLocations.SystemFashionMnist}, where Debian's dataset-fashion-mnist puts it, as for train)", "DIR");
    readonly Option<string?> _out = CliOption.Text("--out", "the study's run folders (default runs/studies/NAME; with --steps, runs/studies/NAME-steps); " +
        "run again to continue a stopped study, or with more --seeds to add seeds", "DIR");
    readonly Option<string?> _results = CliOption.Text("--results", "where NAME.md, NAME.csv and NAME.png go (default: the --out folder, " +
        "beside the runs; a folder whose NAME.md reports other run folders, or names none, as this repository's results/studies, is refused)", "DIR");
    readonly Option<int?> _threads = CliOption.Int("--threads", "torch threads (default: all logical cores)");
    readonly Option<string?> _judge = CliOption.Text("--judge", "judge the study's claims again from a NAME.csv its report wrote (the committed " +
        "results/studies tables, judged by an earlier rule), print the verdicts and exit: nothing is trained, and the other options are not used", "FILE");

    /// <summary>One line per event: where the study stands (run k of N, time so far), each epoch's loss and speed, each seed's top-1.</summary>
    static string Describe(StudyProgress p, TimeSpan elapsed) => p.Event switch
    {
        CellEvent.Skipped => string.Create(CultureInfo.InvariantCulture, $"  {p.Cell} seed {p.Seed}: finished before, skipped (run {p.Run} of {p.Runs}, top-1 {p.Result!.Top1 * 100:F2}%)"),
        CellEvent.Started => $"  {p.Cell} seed {p.Seed}: training (run {p.Run} of {p.Runs}, {ProgressRenderer.Eta(elapsed)} into the study" +
                             (p.Left is { } left ? $", about {ProgressRenderer.Eta(left)} of training left" : "") + ") ...",
        CellEvent.Continued when p.ContinuedFrom!.Finished => "    its training had finished: scoring it",
        CellEvent.Continued => p.ContinuedFrom!.BatchInEpoch > 0
            ? $"    continuing its unfinished attempt in epoch {p.ContinuedFrom.Epoch + 1}, after its batch {p.ContinuedFrom.BatchInEpoch}"
            : $"    continuing its unfinished attempt after epoch {p.ContinuedFrom.Epoch}",
        CellEvent.Restarted => $"    its unfinished attempt's checkpoint cannot be read ({p.Problem}): training it again from the start",
        CellEvent.Epoch => string.Create(CultureInfo.InvariantCulture,
            $"    epoch {p.Epoch!.Metrics.Epoch}/{p.Epoch.Epochs}: train loss {p.Epoch.Metrics.TrainLoss:F4}, {p.Epoch.Metrics.ImagesPerSecond:F0} images/s"),
        _ => string.Create(CultureInfo.InvariantCulture,
            $"  {p.Cell} seed {p.Seed}: done, top-1 {p.Result!.Top1 * 100:F2}% after {ProgressRenderer.Eta(TimeSpan.FromSeconds(p.Result.TrainSeconds))} of training"),
    };

    public override string Name => "study";
    public override bool ResultsOnStdout => false;   // progress there; the results are files
    public override string Summary => "reproduce one of the paper's studies (Tables 7-11, Figure 3) on Fashion-MNIST: a resumable grid of runs, a table with verdicts, a chart";

    protected override void Declare(Command command)
    {
        command.Arguments.Add(_name);
        command.Add(_list, _scale, _seeds, _epochs, _subset, _testSubset, _steps, _data, _out, _results, _threads, _judge);
    }

    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        if (parse.GetValue(_list))
        {
            foreach (string each in StudyCatalog.Names) List(StudyCatalog.Get(each), stdout);
            return 0;
        }
        string name = parse.GetValue(_name) ?? throw new UsageException($"name a study ({string.Join(", ", StudyCatalog.Names)}) or pass --list");
        var study = UsageException.Wrap(() => StudyCatalog.Get(name));
        if (parse.GetValue(_judge) is string table)
        {
            var claims = UsageException.Wrap(() => StudyReport.Judge(study, StudyReport.Summarise(study, StudyReport.ReadCsv(table))), context: table);
            foreach (var claim in claims) stdout.WriteLine(Describe(claim));
            return 0;
        }
        var scale = parse.GetValue(_scale) switch
        {
            null or "small" => StudySettings.Small,
            "full" => StudySettings.Full,
            var other => throw new UsageException($"--scale {other}: small or full"),
        };
        var settings = scale with
        {
            Seeds = parse.GetValue(_seeds) ?? scale.Seeds, Epochs = parse.GetValue(_epochs) ?? scale.Epochs,
            SubsetPerClass = parse.GetValue(_subset) ?? scale.SubsetPerClass, TestSubsetPerClass = parse.GetValue(_testSubset) ?? scale.TestSubsetPerClass,
            StopAfterSteps = parse.GetValue(_steps), DataDirectory = parse.GetValue(_data),
        };
        UsageException.Wrap(settings.Validate);
        int threads = parse.GetValue(_threads) ?? Environment.ProcessorCount;
        CliOption.CheckThreads(threads, Name, stderr);
        // a plumbing run's folder of its own: in the study's default folder it pinned its settings there, and the study itself,
        // run next with the defaults, was refused (study audit, session 46)
        string runs = parse.GetValue(_out) ?? Path.Combine("runs", "studies", settings.StopAfterSteps is null ? study.Name : study.Name + "-steps");
        // the report goes beside its runs unless told: run from the repository, a plumbing run (study audit, session 40) and then a
        // short one (study audit, session 46) overwrote the committed measurements in results/studies
        string results = parse.GetValue(_results) ?? runs;

        // where the report goes is checked before the cells train (an hour on 2 cores): it failed after them, in the OS's words
        foreach (var (option, folder) in new[] { ("--out", runs), ("--results", results) })
            try { OutputFolder.Prepare(folder); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UsageException($"{option} {folder}: cannot write there: {e.Message}"); }
        UsageException.WrapSettings(() => StudyReport.RequireOwnReport(study, results, runs));   // not another study's, found after an hour

        set_num_threads(threads);
        stdout.WriteLine($"study {study.Name} ({study.PaperReference}): {study.TrainedCells.Count()} trained cells x {settings.Seeds} seed{(settings.Seeds == 1 ? "" : "s")}, " +
                         $"{settings.Epochs} epoch{(settings.Epochs == 1 ? "" : "s")} each; run folders in {Path.GetFullPath(runs)}");
        stdout.WriteLine($"cpu: {CpuCapabilities.Current.Describe()}");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // Ctrl-C or SIGTERM while the cells train: the cell in progress stops (its checkpoint saved) and is left unfinished, and
        // the study says how to continue; it ended the process without a word. During the timing pass they end it, saying so;
        // while the report's three files are written, they wait for them (a stop there left a new NAME.md beside an old NAME.png).
        // (Between those two guards, a few statements, a signal ends the process as by default, without a word.)
        IReadOnlyList<CellRun> cellRuns;
        using (var stop = new StopSignals())
        {
            try { cellRuns = UsageException.Wrap(() => StudyRunner.Run(study, settings, runs, p => stdout.WriteLine(Describe(p, clock.Elapsed)), stop.Token)); }
            catch (OperationCanceledException) when (stop.Stopped)
            {
                stdout.WriteLine($"{stop.What}: the finished runs are kept in {Path.GetFullPath(runs)}; " +
                                 "continue with the same command (the unfinished run continues from its last checkpoint)");
                return stop.ExitCode;
            }
        }
        StudyLatencies latency;
        using (new EndingSignals(signal => stdout.WriteLine($"{EndingSignals.What(signal)} while timing: the report was not written; the " +
                                                            "trained runs are kept: the same command times them again and writes it")))
        {
            // said once the guard stands: a signal sent on seeing the line (its test's) had come before it, ending the process without a word
            stdout.WriteLine("  timing every cell's fused network at batch 1, in turn ...");
            latency = StudyLatency.Measure(study);
        }
        string command = "parnet " + ShellWords.Join(parse.Tokens.Select(t => t.Value));
        WrittenStudyReport report;
        using (var whileWriting = new StopSignals())
        {
            report = UsageException.WrapSettings(() => StudyReport.Write(study, settings, cellRuns, latency, results,
                StudyReport.Machine(threads), command, runs));
            if (whileWriting.Stopped)
            {
                stdout.WriteLine($"{whileWriting.What} while the report was written; it was finished first: {string.Join(", ", report.Files.Select(Path.GetFullPath))}");
                return whileWriting.ExitCode;
            }
        }
        foreach (var claim in report.Claims) stdout.WriteLine(Describe(claim));
        stdout.WriteLine($"done in {ProgressRenderer.Eta(clock.Elapsed)}: {string.Join(", ", report.Files.Select(Path.GetFullPath))}");
        return 0;
    }

    /// <summary>"CLAIM: A 88.40% vs B 87.69%, paired difference +0.71 +- 1.90 (3 seeds): within noise".</summary>
    static string Describe(ClaimResult claim) => string.Create(CultureInfo.InvariantCulture,
        $"{claim.Claim.Text}: {claim.Better.Cell.Name} {claim.Better.Top1.Mean * 100:F2}% vs {claim.Worse.Cell.Name} {claim.Worse.Top1.Mean * 100:F2}%, " +
        $"paired difference {StudyReport.Difference(claim.Comparison)}: {Verdicts.Describe(claim.Verdict)}");

    static void List(Study study, TextWriter stdout)
    {
        stdout.WriteLine($"{study.Name} ({study.PaperReference}): {study.Description}");
        foreach (var cell in study.Cells)
        {
            if (cell.IsEnsemble) { stdout.WriteLine($"  {cell.Name}: softmax average of {string.Join(", ", cell.Members)}"); continue; }
            using var model = ParNet.Models.ModelFactory.Create(cell.Model);
            var summary = ParNet.Analysis.ModelSummary.Of(model, 32);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {cell.Name}: {cell.Model.BlockType} planes {string.Join("/", cell.Model.Planes)}, final {cell.Model.FinalWidth}, blocks " +
                $"{string.Join("/", cell.Model.BlocksPerStream)}, {cell.Model.Activation}{(cell.Model.UseSse ? "" : ", no SSE")}: " +
                $"{summary.TrainableParameters:N0} parameters, depth {summary.Depth}"));
        }
        foreach (var claim in study.Claims) stdout.WriteLine($"  claim: {claim.Text} ({claim.Better} > {claim.Worse})");
    }
}
