using System.Globalization;
using System.Text;
using ParNet.Analysis;
using ParNet.Data;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Training;

namespace ParNet.Studies;

/// <summary>One cell over its seeds: what the study's table shows. <see cref="GFlops"/>: of one image at the cell's side;
/// <see cref="PerSeed"/>: top-1 by seed index k.</summary>
public sealed record CellSummary(StudyCell Cell, SeedStats Top1, long Parameters, int Depth, double GFlops, double FusedLatencyMs,
                                 IReadOnlyDictionary<int, double> PerSeed);

/// <summary>A claim with the two cells' means and its paired comparison.</summary>
public sealed record ClaimResult(StudyClaim Claim, CellSummary Better, CellSummary Worse, PairedComparison Comparison)
{
    public Verdict Verdict => Comparison.Verdict;
}

/// <summary>What <see cref="StudyReport.Write"/> wrote (NAME.md, NAME.csv, NAME.png) and the verdicts its table holds.</summary>
public sealed record WrittenStudyReport(IReadOnlyList<string> Files, IReadOnlyList<ClaimResult> Claims);

/// <summary>
/// A study's outputs: NAME.md (the grid with mean +- std over seeds, parameters, depth, latency, and a verdict per claim of
/// the paper), NAME.csv (every cell and seed) and NAME.png (bars with +-1 std whiskers, or curves for the scaling studies).
/// </summary>
public static class StudyReport
{
    /// <summary>Each cell over its seeds. <paramref name="latencyMs"/>: the cells timed together (<see cref="StudyLatency"/>); null:
    /// the median of the latencies each seed measured right after its training.</summary>
    public static IReadOnlyList<CellSummary> Summarise(Study study, IReadOnlyList<CellRun> runs, IReadOnlyDictionary<string, double>? latencyMs = null) =>
        study.Cells.Select(c =>
        {
            var mine = runs.Where(r => r.Cell == c.Name).OrderBy(r => r.Seed).ToList();
            if (mine.Count == 0) throw new ArgumentException($"study {study.Name}: no runs of cell {c.Name}");
            return new CellSummary(c, SeedStats.Of(mine.Select(r => r.Top1).ToList()), mine[0].Parameters, mine[0].Depth, GFlops(study, c),
                                   latencyMs?[c.Name] ?? Median(mine.Select(r => r.FusedLatencyMs)), new SortedDictionary<int, double>(mine.ToDictionary(r => r.Seed, r => r.Top1)));
        }).ToList();

    /// <summary>Compute of one image at the cell's side (an ensemble: the sum of its members').</summary>
    internal static double GFlops(Study study, StudyCell cell)
    {
        if (cell.IsEnsemble) return cell.Members.Sum(m => GFlops(study, study.Cell(m)));
        using var model = ModelFactory.Create(cell.Model);
        return ModelSummary.Of(model, cell.ImageSize ?? PipelineSteps.FashionSide(cell.Model)).GFlops;
    }

    public static IReadOnlyList<ClaimResult> Judge(Study study, IReadOnlyList<CellSummary> cells) =>
        study.Claims.Select(claim =>
        {
            var better = cells.Single(c => c.Cell.Name == claim.Better);
            var worse = cells.Single(c => c.Cell.Name == claim.Worse);
            return new ClaimResult(claim, better, worse, Verdicts.Judge(better.PerSeed, worse.PerSeed));
        }).ToList();

    /// <summary>Writes NAME.md, NAME.csv and NAME.png into <paramref name="directory"/>; returns the three paths and the claims'
    /// verdicts as the table states them.</summary>
    public static WrittenStudyReport Write(Study study, StudySettings settings, IReadOnlyList<CellRun> runs, StudyLatencies? latency,
                                 string directory, string machine, string command, string runsDirectory)
    {
        RequireOwnReport(study, directory, runsDirectory);
        Directory.CreateDirectory(directory);
        var cells = Summarise(study, runs, latency?.Ms);
        var claims = Judge(study, cells);
        string md = Path.Combine(directory, study.Name + ".md"), csv = Path.Combine(directory, study.Name + ".csv"),
               png = Path.Combine(directory, study.Name + ".png");
        AtomicFile.WriteAllText(md, Markdown(study, settings, runs, cells, claims, latency, machine, command) +
                                    $"\n{RunFoldersLine}{RunFoldersFrom(directory, runsDirectory)}`\n");
        AtomicFile.WriteAllText(csv, Csv(runs));
        Chart(study, cells, png);
        return new WrittenStudyReport([md, csv, png], claims);
    }

    /// <summary>Where a study ran: the CPU and torch's threads ("AMD EPYC (family 26 model 2): ..., 1 thread"), as a report
    /// names its command's machine and a cell the one it trained on (<see cref="CellRun.TrainedOn"/>): one wording, compared.</summary>
    public static string Machine(int threads) => $"{CpuCapabilities.Current.Describe()}, {threads} thread{(threads == 1 ? "" : "s")}";

    /// <summary>The setting of <see cref="Write"/>'s directory, as <see cref="InvalidSettingException"/> names it.</summary>
    public const string DirectorySetting = "StudyReport.Write's directory";

    const string RunFoldersLine = "Run folders: `";

    /// <summary>The run folders as the report names them: relative to the report's folder (a committed report names no one's
    /// checkout), with no separator at the end.</summary>
    static string RunFoldersFrom(string directory, string runsDirectory) =>
        Path.TrimEndingDirectorySeparator(Path.GetRelativePath(Path.GetFullPath(directory), Path.GetFullPath(runsDirectory)));

    /// <summary>
    /// Refuses to write NAME.md, .csv and .png over a report of another study folder, or over one whose last line does not name
    /// its run folders (a report written by an earlier version, or with notes added by hand): a short study run from the
    /// repository replaced the committed tables and their hand-written notes without a word (an audit of the studies,
    /// session 46). The study's own report, its run folders named in its last line, is rewritten (a study continued, or timed
    /// again). Call it before the cells train.
    /// </summary>
    public static void RequireOwnReport(Study study, string directory, string runsDirectory)
    {
        string md = Path.Combine(directory, study.Name + ".md");
        if (!File.Exists(md)) return;
        string? last = File.ReadLines(md).LastOrDefault(l => l.Trim().Length > 0)?.Trim();
        string? theirs = last is not null && last.StartsWith(RunFoldersLine, StringComparison.Ordinal) && last.EndsWith('`')
            ? last[RunFoldersLine.Length..^1] : null;
        string Full(string relative) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.Combine(directory, relative)));
        if (theirs is not null && Full(theirs) == Full(RunFoldersFrom(directory, runsDirectory))) return;
        throw new InvalidSettingException(DirectorySetting, n =>
            $"{md} reports {(theirs is null ? "a study whose run folders its last line does not name (an earlier version's report, or one with notes added by hand)" : $"the study in {Full(theirs)}")}, " +
            $"which this study's report would replace: give another {n.Name(DirectorySetting)}, or move {study.Name}.md, .csv and .png away first");
    }

    /// <summary>"N training images (...)": what the cells' runs counted (a range where they differ), else what the settings asked
    /// for, the counts of Fashion-MNIST's own files (cells of versions before session 47's recorded none).</summary>
    static string Images(IEnumerable<int?> counted, string asked, string split, string? drawn)
    {
        var counts = counted.ToList();
        string number = counts.Count > 0 && counts.All(c => c is not null)
            ? counts.Min() == counts.Max() ? $"{counts.Min():N0}" : $"{counts.Min():N0}-{counts.Max():N0}"
            : asked;
        return $"{number} {split} images" + (drawn is null ? "" : $" ({drawn})");
    }

    static string Markdown(Study study, StudySettings s, IReadOnlyList<CellRun> runs, IReadOnlyList<CellSummary> cells, IReadOnlyList<ClaimResult> claims,
                           StudyLatencies? together, string machine, string command)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.Append(inv, $"# Study `{study.Name}`: the paper's {study.PaperReference}, on Fashion-MNIST\n\n{study.Description}\n\n");
        var ensembles = study.Cells.Where(c => c.IsEnsemble).Select(c => c.Name).ToHashSet();
        var trained = runs.Where(r => !ensembles.Contains(r.Cell)).ToList();
        sb.Append(inv, $"Measured with `{command}` on {machine}. Each cell: the fashion-mnist recipe with a +-{StudySettings.CropPadding} px random shift, {s.Epochs} epoch{(s.Epochs == 1 ? "" : "s")} on ")
          .Append(Images(trained.Select(r => r.TrainImages), s.SubsetPerClass is int n ? $"{n * 10:N0}" : "all 60,000", "training", s.SubsetPerClass is int m ? $"up to {m} per class, drawn per seed" : null))
          .Append(", scored on ").Append(Images(trained.Select(r => r.TestImages), s.TestSubsetPerClass is int t ? $"{t * 10:N0}" : "all 10,000", "test", null))
          .Append(inv, $"; {s.Seeds} seed{(s.Seeds == 1 ? "" : "s")}")
          .Append(s.StopAfterSteps is long steps ? $"; STOPPED AFTER {steps} STEP{(steps == 1 ? "" : "S")} PER CELL (a plumbing run, not a result)" : "")
          .Append(study.TrainedCells.Any(c => c.Model.BlockType == BlockType.ResNetBasic)
              ? ". A ResNet cell is timed as built, its BatchNorms not folded into its convolutions (the ParNets are fused): its latency is an upper bound" : "")
          .Append(together is not null
              ? $". Latency: batch 1, the network as it infers (a ParNet fused), every cell timed in one process after training, in turn (median of {together.Rounds} round{(together.Rounds == 1 ? "" : "s")} of the median of {together.Repeats}; an ensemble: the sum of its members'; the CSV's fused_latency_ms is each run's own median of 20 right after its training, not this). GFLOPs: one image at the cell's side.\n\n"
              : ". Latency: batch 1, the network as it infers (a ParNet fused), median of 20 right after each seed's training (an ensemble: the sum of its members'). GFLOPs: one image at the cell's side.\n\n");
        // the study's time, less the evaluations and the latency timing: what its budget is about
        // the trained cells' runs: an ensemble's row carries its members' seconds again (study audit, session 40: 10 runs and
        // 0.5 min said where 8 had trained in 0.29)
        // the command that wrote the report is not always the one that trained its cells: a study continued at other threads or
        // on another machine, or timed again, was credited whole to the last (study audit, session 46)
        var trainedOn = trained.GroupBy(r => r.TrainedOn).OrderByDescending(g => g.Count()).ToList();
        if (trainedOn is not [{ Key: var only }] || only != machine)
            sb.Append("Trained on: ").Append(string.Join("; ", trainedOn.Select(g => $"{g.Key ?? "not recorded (cells trained by an earlier version of parnet)"} " +
                                                                                     $"({g.Count()} run{(g.Count() == 1 ? "" : "s")})"))).Append(".\n\n");
        sb.Append(inv, $"Training: {trained.Sum(r => r.TrainSeconds) / 60:F1} min over the {trained.Count} trained runs (the sum of the train_seconds column less the ensembles' rows, which sum their members'; longer on a machine running other work beside it).\n\n");
        if (together is null && runs.Any(r => r.OneDnnOff) && runs.Any(r => !r.OneDnnOff))
            sb.Append("Some cells were timed with libtorch's oneDNN convolutions off (a width oneDNN computes wrongly on AVX-512 turns them off ")
              .Append("for the rest of the process, Runtime/LibTorchWorkarounds): their latencies and training times are not comparable with ")
              .Append("the others'. Accuracy is unaffected.\n\n");
        sb.Append("| cell | side px | parameters | GFLOPs | depth | latency ms | top-1 % (mean +- std) | per seed |\n|---|---:|---:|---:|---:|---:|---:|---|\n");
        foreach (var c in cells)
            sb.Append(inv, $"| {c.Cell.Name}{(c.Cell.IsEnsemble ? $" (softmax average of {string.Join(", ", c.Cell.Members)})" : "")} | " +
                           $"{c.Cell.ImageSize ?? PipelineSteps.FashionSide(c.Cell.Model)} | {c.Parameters:N0} | {c.GFlops:F4} | {c.Depth} | " +
                           $"{c.FusedLatencyMs:F2} | {Percent(c.Top1)} | {string.Join(" / ", c.PerSeed.Values.Select(v => (v * 100).ToString("F2", inv)))} |\n");
        sb.Append(inv, $"\n{Verdicts.Rule}\n\n");
        sb.Append("| the paper's claim | ours | paired difference, points (95% interval) | verdict |\n|---|---|---:|---|\n");
        foreach (var c in claims)
            sb.Append(inv, $"| {c.Claim.Text} | {c.Better.Cell.Name} {Percent(c.Better.Top1)} vs {c.Worse.Cell.Name} {Percent(c.Worse.Top1)} | " +
                           $"{Difference(c.Comparison)} | **{Verdicts.Describe(c.Verdict)}** |\n");
        return sb.ToString();
    }

    static string Percent(SeedStats s) => s.Seeds < 2
        ? (s.Mean * 100).ToString("F2", CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{s.Mean * 100:F2} +- {s.Std * 100:F2}");

    /// <summary>"+0.72 +- 1.10 (3 seeds)": the mean per-seed difference in points and its interval's half width.</summary>
    public static string Difference(PairedComparison c) => c.Pairs switch
    {
        0 => "no common seed",
        1 => string.Create(CultureInfo.InvariantCulture, $"{c.MeanDifference * 100:+0.00;-0.00;0.00} (1 seed)"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{c.MeanDifference * 100:+0.00;-0.00;0.00} +- {c.HalfWidth * 100:F2} ({c.Pairs} seeds)"),
    };

    const string CsvHeader = "cell,seed,top1,parameters,depth,fused_latency_ms,train_seconds,onednn_off";

    /// <summary>The runs of a NAME.csv that <see cref="Write"/> wrote: a study's verdicts judged again from its table alone
    /// (the committed reports of an earlier rule; the study folders that trained them are long gone).</summary>
    public static IReadOnlyList<CellRun> ReadCsv(string path)
    {
        // .NET's "Could not find file '/full/path'" unlike every other missing file's line (README walk, session 48)
        if (Directory.Exists(path)) throw new FileNotFoundException($"study table {path} is a folder, not a NAME.csv", path);
        if (!File.Exists(path)) throw new FileNotFoundException($"study table not found: {path}", path);
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != CsvHeader)
            throw new InvalidDataException($"{path}: not a study's table: its first line is not \"{CsvHeader}\"");
        var inv = CultureInfo.InvariantCulture;
        var runs = lines.Select((line, i) => (Line: line, Number: i + 1)).Skip(1).Where(l => l.Line.Length > 0).Select(l =>
        {
            var f = l.Line.Split(',');
            try
            {
                if (f.Length != 8) throw new FormatException($"{f.Length} fields, not 8");
                var run = new CellRun(f[0], int.Parse(f[1], inv), double.Parse(f[2], inv), long.Parse(f[3], inv), int.Parse(f[4], inv),
                                      double.Parse(f[5], inv), double.Parse(f[6], inv)) { OneDnnOff = bool.Parse(f[7]) };
                if (!(run.Top1 is >= 0 and <= 1)) throw new FormatException($"top-1 {f[2]} is not a fraction in [0, 1]");
                return run;
            }
            catch (Exception e) when (e is FormatException or OverflowException) { throw new InvalidDataException($"{path}, line {l.Number}: {e.Message}: {l.Line}", e); }
        }).ToList();
        if (runs.GroupBy(r => (r.Cell, r.Seed)).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new InvalidDataException($"{path}: cell {twice.Key.Cell} seed {twice.Key.Seed} appears {twice.Count()} times");
        return runs;
    }

    static string Csv(IReadOnlyList<CellRun> runs)
    {
        var sb = new StringBuilder(CsvHeader + "\n");
        foreach (var r in runs)
            sb.Append(CultureInfo.InvariantCulture, $"{r.Cell},{r.Seed},{r.Top1:R},{r.Parameters},{r.Depth},{r.FusedLatencyMs:F4},{r.TrainSeconds:F1},{(r.OneDnnOff ? "true" : "false")}\n");
        return sb.ToString();
    }

    static void Chart(Study study, IReadOnlyList<CellSummary> cells, string path)
    {
        string title = $"{study.Name} ({study.PaperReference}): Fashion-MNIST top-1 %";
        if (study.XLabel is string xLabel)
        {
            var series = cells.SelectMany(c => c.Cell.Series.Select(name => (name, c))).GroupBy(p => p.name, p => p.c).Select((g, i) =>
            {
                var points = g.Select(c => (X: study.XIsFlops ? c.GFlops * 1000 : c.Cell.X ?? 0, Y: c.Top1.Mean * 100,
                                            Spread: c.Top1.Seeds < 2 ? double.NaN : c.Top1.Std * 100)).OrderBy(p => p.X).ToList();
                return new Charts.Series(g.Key, points.Select(p => (p.X, p.Y)).ToList(), Charts.Color(i), points.Select(p => p.Spread).ToList());
            }).ToList();
            bool spread = cells.Any(c => c.Top1.Seeds >= 2);
            Charts.Line(path, spread ? $"{title} (whiskers: +-1 std over seeds)" : title, xLabel, series);
            return;
        }
        var bars = cells.Select((c, i) => new Charts.BarItem(c.Cell.Name, c.Top1.Mean * 100,
            c.Top1.Seeds < 2 ? null : (c.Top1.Mean - c.Top1.Std) * 100, c.Top1.Seeds < 2 ? null : (c.Top1.Mean + c.Top1.Std) * 100, Charts.Color(i))).ToList();
        Charts.HorizontalBars(path, title, "top-1 % (whiskers: +-1 std over seeds)", bars, []);
    }

    static double Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }
}
