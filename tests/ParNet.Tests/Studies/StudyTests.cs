using System.Globalization;
using ParNet.Analysis;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Studies;
using ParNet.Tests.Cli;
using ParNet.Tests.Data;
using ParNet.Training;
using static TorchSharp.torch;

namespace ParNet.Tests.Studies;

/// <summary>The paper's studies (issue 15): grids, parameter matching, verdicts, ensembles, resumption, a tiny study end to end.</summary>
public class StudyTests
{
    static int Depth(ModelConfig config)
    {
        using var model = ModelFactory.Create(config);
        return ModelSummary.Of(model, 32).Depth;
    }

    [Fact]
    public void The_base_cell_is_the_fashion_mnist_network()
    {
        var base16 = StudyCatalog.ParNet("base", 16);
        Assert.Equal([16, 32, 64], base16.Planes);
        Assert.Equal(64, base16.FinalWidth);
        Assert.Equal([3, 4, 4], base16.BlocksPerStream);
        Assert.Equal(349978, ParameterMatching.Count(base16));   // train-bench's fashion-mnist network, as the authors' blocks count it
        Assert.Equal(16, Recipes.FashionMnist.Width);
    }

    [Theory]
    [InlineData("block-type")]
    [InlineData("streams")]
    public void Matched_cells_hold_the_base_parameter_count_within_three_percent_at_depth_12(string name)
    {
        var study = StudyCatalog.Get(name);
        long target = ParameterMatching.Count(StudyCatalog.ParNet("base", 16));
        foreach (var cell in study.TrainedCells)
        {
            long n = ParameterMatching.Count(cell.Model);
            Assert.True(Math.Abs(n - target) <= ParameterMatching.Tolerance * target, $"{cell.Name}: {n:N0} against {target:N0}");
            Assert.Equal(12, Depth(cell.Model));
        }
        if (name == "streams") Assert.Equal([1, 2, 3, 4], study.Cells.Select(c => c.Model.Streams).ToArray());
        else Assert.Equal([BlockType.ResNetBasic, BlockType.RepVggSse, BlockType.RepVggSse], study.Cells.Select(c => c.Model.BlockType).ToArray());
    }

    [Fact]
    public void The_depth_study_varies_depth_and_the_others_keep_12()
    {
        Assert.Equal([9, 12, 15], StudyCatalog.Get("depth").Cells.Select(c => Depth(c.Model)).ToArray());
        foreach (string name in new[] { "sse-silu", "ensemble", "scaling" })
            foreach (var cell in StudyCatalog.Get(name).TrainedCells)
                Assert.Equal(12, Depth(cell.Model));
    }

    [Fact]
    public void The_ensemble_members_are_a_third_of_the_ParNet_each_and_train_from_different_seeds()
    {
        var study = StudyCatalog.Get("ensemble");
        long parnet = ParameterMatching.Count(study.Cell("parnet").Model);
        var members = study.Cell("ensemble").Members.Select(study.Cell).ToList();
        Assert.Equal(3, members.Count);
        foreach (var m in members)
            Assert.True(Math.Abs(ParameterMatching.Count(m.Model) - parnet / 3.0) <= ParameterMatching.Tolerance * parnet / 3.0, m.Name);
        Assert.Equal(3, members.Select(m => m.SeedOffset).Distinct().Count());
        // on seed k's training images, the ParNet's: with subsets of their own, the three saw up to three times its images (an
        // audit of the studies, session 46); their initialization, order and augmentation are their own
        for (int k = 0; k < 5; k++)
        {
            var parnetLoader = StudyRunner.CellTraining(study.Cell("parnet"), k, StudySettings.Small).Loader;
            var trained = members.Select(m => StudyRunner.CellTraining(m, k, StudySettings.Small)).ToList();
            Assert.All(trained, t => Assert.Equal(parnetLoader.Subset, t.Loader.Subset));
            Assert.Equal(4, trained.Select(t => t.Loader.Seed).Append(parnetLoader.Seed).Distinct().Count());
            Assert.All(trained, t => Assert.Equal(t.Loader.Seed, t.Recipe.Seed));
        }
    }

    [Fact]
    public void The_resolution_cells_are_the_base_network_at_16_and_48_px_and_scale_its_compute_by_the_pixel_count()
    {
        var study = StudyCatalog.Get("scaling");
        var runs = study.TrainedCells.Select(c => new CellRun(c.Name, 0, 0.9, ParameterMatching.Count(c.Model), 12, 1, 1)).ToList();
        var cells = StudyReport.Summarise(study, runs).ToDictionary(c => c.Cell.Name);
        var base16 = StudyCatalog.ParNet("base", 16);
        foreach (var (name, side) in new[] { ("r16", 16), ("r48", 48) })
        {
            Assert.Equal(side, cells[name].Cell.ImageSize);
            Assert.Equal((base16 with { Name = name }).ToJson(), cells[name].Cell.Model.ToJson());
        }
        Assert.Null(cells["w16"].Cell.ImageSize);   // the base network at the 32 px training side, a point of all three curves
        Assert.Equal(3, cells["w16"].Cell.Series.Count);
        // convolutions scale with the pixel count (1/4 and 9/4); only the classifier's few FLOPs do not
        Assert.InRange(cells["r16"].GFlops / cells["w16"].GFlops, 0.25, 0.26);
        Assert.InRange(cells["r48"].GFlops / cells["w16"].GFlops, 2.24, 2.25);
        Assert.InRange(cells["w24"].GFlops / cells["w16"].GFlops, 2.0, 2.3);   // width 1.5x: about 1.5^2 the multiply-adds
    }

    [Fact]
    public void The_latency_pass_times_every_trained_cell_and_an_ensemble_is_the_sum_of_its_members()
    {
        var study = StudyCatalog.Get("ensemble");
        var measured = StudyLatency.Measure(study, rounds: 2, repeats: 2);
        var latency = measured.Ms;
        Assert.Equal((2, 2), (measured.Rounds, measured.Repeats));
        Assert.Equal(study.Cells.Select(c => c.Name).Order(), latency.Keys.Order());
        foreach (var cell in study.TrainedCells) Assert.True(latency[cell.Name] > 0, cell.Name);
        Assert.Equal(latency["single-1"] + latency["single-2"] + latency["single-3"], latency["ensemble"], 12);
        // the latency column takes these, not the times measured after training
        var runs = study.Cells.Select(c => new CellRun(c.Name, 0, 0.9, 1, 12, FusedLatencyMs: 1e6, 1)).ToList();
        Assert.All(StudyReport.Summarise(study, runs, latency), c => Assert.Equal(latency[c.Cell.Name], c.FusedLatencyMs));
        Assert.All(StudyReport.Summarise(study, runs), c => Assert.Equal(1e6, c.FusedLatencyMs));
    }

    [Fact]
    public void Matching_refuses_a_budget_no_width_reaches()
    {
        var e = Assert.Throws<ArgumentException>(() => ParameterMatching.Match(m => StudyCatalog.ParNet("tiny", 2 * m), 100, low: 1, high: 2));
        Assert.Contains("no width gives 100 parameters", e.Message);
    }

    /// <summary>Top-1 by seed index 0, 1, ...</summary>
    static Dictionary<int, double> BySeed(double[] values) => values.Select((v, k) => (v, k)).ToDictionary(p => p.k, p => p.v);

    [Theory]
    // differences 0.10, 0.11, 0.09: mean 0.10, std 0.01, standard error 0.00577; t(2 df) 4.303: interval +-0.0248
    [InlineData(new[] { 0.90, 0.92, 0.91 }, new[] { 0.80, 0.81, 0.82 }, Verdict.Holds)]
    [InlineData(new[] { 0.80, 0.81, 0.82 }, new[] { 0.90, 0.92, 0.91 }, Verdict.Reversed)]
    // differences 0.02, 0.01, 0.03: 2 standard errors (+-0.0115) would call it; t at 2 degrees of freedom (+-0.0248) does not
    [InlineData(new[] { 0.90, 0.91, 0.92 }, new[] { 0.88, 0.90, 0.89 }, Verdict.WithinNoise)]
    // the pairing: seed k moves both cells (0.90 / 0.85 / 0.95); each cell's spread (0.05) hides the difference of the means
    // (0.013), the differences 0.015 / 0.010 / 0.015 (interval +-0.0072) do not
    [InlineData(new[] { 0.90, 0.85, 0.95 }, new[] { 0.885, 0.84, 0.935 }, Verdict.Holds)]
    // the same difference at every seed: the seeds vary nothing, so they say nothing of the noise (this "held" before)
    [InlineData(new[] { 0.90, 0.91, 0.92 }, new[] { 0.80, 0.81, 0.82 }, Verdict.NoSpread)]
    [InlineData(new[] { 0.90, 0.91, 0.92 }, new[] { 0.90, 0.91, 0.92 }, Verdict.WithinNoise)]
    // two seeds: a t interval of 12.7 standard errors, no verdict; one seed, no spread at all
    [InlineData(new[] { 0.95, 0.96 }, new[] { 0.80, 0.82 }, Verdict.TooFewSeeds)]
    [InlineData(new[] { 0.95 }, new[] { 0.80 }, Verdict.TooFewSeeds)]
    public void The_verdict_is_a_paired_t_test_over_the_seeds(double[] better, double[] worse, Verdict expected) =>
        Assert.Equal(expected, Verdicts.Judge(BySeed(better), BySeed(worse)).Verdict);

    [Fact]
    public void A_comparison_pairs_the_seeds_both_cells_ran_and_states_its_interval()
    {
        // seed 3 only the better cell ran; seeds 0-2 as the first case above
        var c = Verdicts.Judge(new Dictionary<int, double> { [0] = 0.90, [1] = 0.92, [2] = 0.91, [3] = 0.10 },
                               new Dictionary<int, double> { [2] = 0.82, [1] = 0.81, [0] = 0.80 });
        Assert.Equal(3, c.Pairs);
        Assert.Equal(0.10, c.MeanDifference, 12);
        Assert.Equal(4.303 * 0.01 / Math.Sqrt(3), c.HalfWidth, 9);
        Assert.Equal("+10.00 +- 2.48 (3 seeds)", StudyReport.Difference(c));
        Assert.Equal(Verdict.TooFewSeeds, Verdicts.Judge(BySeed([0.9, 0.9, 0.9]), new Dictionary<int, double> { [5] = 0.8 }).Verdict);
    }

    [Fact]
    public void A_table_is_judged_again_from_its_csv_by_the_paired_rule()
    {
        // per seed: depth-9 0.80/0.81/0.82, depth-12 0.90/0.92/0.91, depth-15 0.92/0.93/0.94. Differences 12-9: 0.10/0.11/0.09 (mean
        // 10.00 points, std 1.00, interval 4.303 x 1.00 / sqrt 3 = 2.48: holds); 15-12: 0.02/0.01/0.03 (2.00 +- 2.48: within noise)
        using var dir = new TempDirectory();
        string csv = dir.File("depth.csv");
        var top1 = new Dictionary<string, double[]> { ["depth-9"] = [0.80, 0.81, 0.82], ["depth-12"] = [0.90, 0.92, 0.91], ["depth-15"] = [0.92, 0.93, 0.94] };
        File.WriteAllLines(csv, ["cell,seed,top1,parameters,depth,fused_latency_ms,train_seconds,onednn_off",
            .. top1.SelectMany(c => c.Value.Select((t, k) => string.Create(CultureInfo.InvariantCulture, $"{c.Key},{k},{t},1000,12,1.0,60.0,false")))]);
        var judged = CliRunner.Run("study", "depth", "--judge", csv);
        Assert.True(judged.Code == 0, judged.Err);
        var claims = StudyCatalog.Get("depth").Claims;
        Assert.Equal([$"{claims[0].Text}: depth-12 91.00% vs depth-9 81.00%, paired difference +10.00 +- 2.48 (3 seeds): holds",
                      $"{claims[1].Text}: depth-15 93.00% vs depth-12 91.00%, paired difference +2.00 +- 2.48 (3 seeds): within noise"],
                     judged.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd()));
    }

    [Theory]
    // two-sided 95% critical values of Student's t from a published table (NIST/SEMATECH e-Handbook 1.4.7.2)
    [InlineData(1, 12.706)]
    [InlineData(2, 4.303)]
    [InlineData(4, 2.776)]
    [InlineData(30, 2.042)]
    [InlineData(40, 2.021)]
    [InlineData(60, 2.000)]
    [InlineData(100, 1.984)]
    [InlineData(120, 1.980)]
    public void The_t_critical_value_is_the_tables(int degreesOfFreedom, double expected) =>
        Assert.Equal(expected, Verdicts.TCritical(degreesOfFreedom), 3);

    [Fact]
    public void An_ensemble_averages_its_members_softmax_outputs()
    {
        using var scope = NewDisposeScope();
        var labels = tensor(new long[] { 0, 1, 1 });
        // member A is sure and wrong on image 1; B and C lean the right way: their average is right on every image
        var a = tensor(new float[,] { { 0.9f, 0.1f }, { 0.95f, 0.05f }, { 0.2f, 0.8f } });
        var b = tensor(new float[,] { { 0.6f, 0.4f }, { 0.3f, 0.7f }, { 0.6f, 0.4f } });
        var c = tensor(new float[,] { { 0.7f, 0.3f }, { 0.2f, 0.8f }, { 0.3f, 0.7f } });
        Assert.Equal(2.0 / 3, StudyRunner.Top1(a, labels), 9);
        Assert.Equal(1.0, StudyRunner.EnsembleTop1([a, b, c], labels), 9);
        // averaging votes instead of probabilities would make image 1 a 2:1 vote and image 2 a tie
        Assert.Equal(2.0 / 3, StudyRunner.EnsembleTop1([a, b], labels), 9);
    }

    static readonly string[] TinyStudy = ["--seeds", "2", "--epochs", "1", "--subset", "13", "--test-subset", "10", "--steps", "2", "--threads", "2"];

    [Fact]
    public void A_tiny_study_runs_end_to_end_writes_its_table_and_is_skipped_when_run_again()
    {
        using var dir = new TempDirectory();
        string runs = dir.File("runs"), results = dir.File("results");
        var first = CliRunner.Run(["study", "sse-silu", .. TinyStudy, "--out", runs, "--results", results]);
        Assert.True(first.Code == 0, first.Err + first.Out);

        var rows = File.ReadAllLines(Path.Combine(results, "sse-silu.csv"));
        Assert.Equal("cell,seed,top1,parameters,depth,fused_latency_ms,train_seconds,onednn_off", rows[0]);
        var cells = rows.Skip(1).Select(r => r.Split(',')).ToList();
        Assert.Equal(["no-sse-relu/0", "no-sse-relu/1", "sse-relu/0", "sse-relu/1", "sse-silu/0", "sse-silu/1"], cells.Select(c => $"{c[0]}/{c[1]}"));
        var study = StudyCatalog.Get("sse-silu");
        foreach (var c in cells)
        {
            double top1 = double.Parse(c[2], CultureInfo.InvariantCulture);
            Assert.InRange(top1, 0, 1);
            Assert.True(Math.Abs(top1 * 100 - Math.Round(top1 * 100)) < 1e-6, c[2]);   // 100 test images: a whole number of percent
            Assert.Equal(ParameterMatching.Count(study.Cell(c[0]).Model), long.Parse(c[3], CultureInfo.InvariantCulture));
            Assert.Equal("12", c[4]);
            Assert.True(double.Parse(c[5], CultureInfo.InvariantCulture) > 0);
            // the progress line of each seed carries the top-1 the table records
            Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"  {c[0]} seed {c[1]}: done, top-1 {top1 * 100:F2}% after "), first.Out);
        }
        Assert.Contains("  sse-silu seed 1: training (run 6 of 6, ", first.Out);
        Assert.True(new FileInfo(Path.Combine(results, "sse-silu.png")).Length > 10_000);
        string table = File.ReadAllText(Path.Combine(results, "sse-silu.md"));
        Assert.Contains("STOPPED AFTER 2 STEPS PER CELL", table);   // a plumbing run says so in its table
        // each claim's verdict as the command printed it is the table's (StudyReport.Write's own; it judged the runs twice)
        foreach (var claim in study.Claims)
        {
            var row = System.Text.RegularExpressions.Regex.Match(table, $@"\| {System.Text.RegularExpressions.Regex.Escape(claim.Text)} \| .* \| \*\*(.+)\*\* \|");
            Assert.True(row.Success, table);
            Assert.Contains(first.Out.Split('\n'), line => line.StartsWith(claim.Text + ": ") && line.TrimEnd().EndsWith(": " + row.Groups[1].Value));
        }
        // two seeds give no verdict
        Assert.Contains($"**fewer than {Verdicts.MinimumSeeds} seeds: no verdict**", table);
        // the table judged again from the CSV alone (--judge, for reports of an earlier rule) says what the study said
        var judged = CliRunner.Run(["study", "sse-silu", "--judge", Path.Combine(results, "sse-silu.csv")]);
        Assert.True(judged.Code == 0, judged.Err);
        Assert.Equal(study.Claims.Select(claim => first.Out.Split('\n').Single(l => l.StartsWith(claim.Text + ": ")).TrimEnd()),
                     judged.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd()));
        double trainMinutes = cells.Sum(c => double.Parse(c[6], CultureInfo.InvariantCulture)) / 60;
        var stated = System.Text.RegularExpressions.Regex.Match(table, @"Training: ([0-9.]+) min over the 6 trained runs ");   // the header states the study's time
        Assert.True(stated.Success, table);
        Assert.InRange(double.Parse(stated.Groups[1].Value, CultureInfo.InvariantCulture), trainMinutes - 0.06, trainMinutes + 0.06);   // printed to 0.1 min
        // every cell is an ordinary run folder
        Assert.True(File.Exists(Path.Combine(runs, "sse-relu", "seed-1", "metrics.csv")));

        var stamp = File.GetLastWriteTimeUtc(Path.Combine(runs, "sse-silu", "seed-0", "cell.json"));
        var second = CliRunner.Run(["study", "sse-silu", .. TinyStudy, "--out", runs, "--results", results]);
        Assert.Equal(0, second.Code);
        Assert.Equal(6, second.Out.Split('\n').Count(l => l.Contains("finished before, skipped")));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(runs, "sse-silu", "seed-0", "cell.json")));
        Assert.Equal(rows, File.ReadAllLines(Path.Combine(results, "sse-silu.csv")));

        // the folder belongs to sse-silu: another study, or other settings, are refused
        CliRunner.AssertUserError(CliRunner.Run(["study", "depth", .. TinyStudy, "--out", runs, "--results", results]),
            "holds the study 'sse-silu', not 'depth'");
        CliRunner.AssertUserError(CliRunner.Run(["study", "sse-silu", .. TinyStudy[..2], "--epochs", "2", .. TinyStudy[4..], "--out", runs]),
            "with other settings (2 seeds, 1 epoch, subset 13, test subset 10, 2 steps per cell; here 2 seeds, 2 epochs, subset 13, test subset 10, 2 steps per cell)");
        // a study differing only in its test subset or steps was refused with a list of settings equal to the command's
        CliRunner.AssertUserError(CliRunner.Run(["study", "sse-silu", .. TinyStudy[..6], "--test-subset", "11", .. TinyStudy[8..], "--out", runs]),
            "(2 seeds, 1 epoch, subset 13, test subset 10, 2 steps per cell; here 2 seeds, 1 epoch, subset 13, test subset 11, 2 steps per cell)");
    }

    [Fact]
    public void A_study_reports_every_run_in_order_with_its_epochs_and_its_result_and_a_rerun_reports_the_same_results_skipped()
    {
        using var dir = new TempDirectory();
        var study = StudyCatalog.Get("depth");
        var settings = StudySettings.Small with { Seeds = 1, Epochs = 2, SubsetPerClass = 13, TestSubsetPerClass = 10 };
        var events = new List<StudyProgress>();
        var runs = StudyRunner.Run(study, settings, dir.File("runs"), events.Add);

        string[] cells = ["depth-9", "depth-12", "depth-15"];
        Assert.Equal(cells.SelectMany((c, i) => new[] { $"Started {c}/0 {i + 1}/3", $"Epoch {c}/0 {i + 1}/3", $"Epoch {c}/0 {i + 1}/3", $"Finished {c}/0 {i + 1}/3" }),
                     events.Select(e => $"{e.Event} {e.Cell}/{e.Seed} {e.Run}/{e.Runs}"));
        var epochs = events.Where(e => e.Event == CellEvent.Epoch).Select(e => e.Epoch!).ToList();
        Assert.Equal([1, 2, 1, 2, 1, 2], epochs.Select(e => e.Metrics.Epoch));
        Assert.All(epochs, e => { Assert.Equal(2, e.Epochs); Assert.True(e.Metrics.ImagesPerSecond > 0); Assert.True(double.IsFinite(e.Metrics.TrainLoss)); });
        Assert.Equal(runs, events.Where(e => e.Event == CellEvent.Finished).Select(e => e.Result!));

        events.Clear();
        var again = StudyRunner.Run(study, settings, dir.File("runs"), events.Add);
        Assert.Equal(cells.Select((c, i) => $"Skipped {c}/0 {i + 1}/3"), events.Select(e => $"{e.Event} {e.Cell}/{e.Seed} {e.Run}/{e.Runs}"));
        Assert.Equal(runs, events.Select(e => e.Result!));
        Assert.Equal(runs, again);
    }

    /// <summary>A depth study of one seed and 2 epochs on 13 images a class, cancelled after its first cell's first epoch.</summary>
    static (Study Study, StudySettings Settings) StoppedAfterTheFirstEpoch(string runs)
    {
        var study = StudyCatalog.Get("depth");
        var settings = StudySettings.Small with { Seeds = 1, Epochs = 2, SubsetPerClass = 13, TestSubsetPerClass = 1 };
        using var cts = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => StudyRunner.Run(study, settings, runs,
            p => { if (p.Event == CellEvent.Epoch) cts.Cancel(); }, cts.Token));
        return (study, settings);
    }

    [Fact]
    public void A_cancelled_study_leaves_its_cell_unfinished_and_a_rerun_continues_it_from_its_checkpoint()
    {
        // the trainer stops at a cancel and returns: the half-trained cell was scored and written as finished (cell.json)
        using var dir = new TempDirectory();
        var (study, settings) = StoppedAfterTheFirstEpoch(dir.File("runs"));
        Assert.Null(StudyRunner.Load(Path.Combine(dir.File("runs"), "depth-9", "seed-0")));
        Assert.True(File.Exists(Path.Combine(dir.File("runs"), "depth-9", "seed-0", "checkpoints", "last", "state.json")));

        var events = new List<StudyProgress>();
        var runs = StudyRunner.Run(study, settings with { }, dir.File("runs"), events.Add);
        Assert.Equal("Started depth-9/0", events.Select(e => $"{e.Event} {e.Cell}/{e.Seed}").First());
        // it says so (a resumed cell said "training" as a new one; study audit, session 46)
        Assert.Equal((CellEvent.Continued, 1, 0), events.Skip(1).Select(e => (e.Event, e.ContinuedFrom?.Epoch, e.ContinuedFrom?.BatchInEpoch)).First());
        // it trained epoch 2 only: epoch 1 came from the checkpoint (until session 35 the cell started again, both epochs)
        Assert.Equal([2], events.Where(e => e.Event == CellEvent.Epoch && e.Cell == "depth-9").Select(e => e.Epoch!.Metrics.Epoch));
        var state = Checkpoint.ReadState(Path.Combine(dir.File("runs"), "depth-9", "seed-0", "checkpoints", "last"));
        Assert.Equal(2, state.Epoch);
        Assert.Equal(2, state.History.Count);   // both epochs in the run's record, the first from before the stop
        Assert.Equal(state.WallSeconds, runs.Single(r => r.Cell == "depth-9").TrainSeconds);
    }

    /// <summary>A damaged checkpoint of an unfinished cell was thrown away without a word, the cell trained again from epoch 1
    /// (hours at --scale full; study audit, session 46): it is said, with the checkpoint and why.</summary>
    [Fact]
    public void An_unfinished_cells_unreadable_checkpoint_is_said_before_the_cell_trains_again()
    {
        using var dir = new TempDirectory();
        var (study, settings) = StoppedAfterTheFirstEpoch(dir.File("runs"));
        string last = Path.Combine(dir.File("runs"), "depth-9", "seed-0", "checkpoints", "last");
        using (var weights = File.OpenWrite(Path.Combine(last, "model.safetensors"))) weights.SetLength(1000);
        var events = new List<StudyProgress>();
        using var again = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => StudyRunner.Run(study, settings, dir.File("runs"),
            p => { events.Add(p); if (p.Event == CellEvent.Epoch) again.Cancel(); }, again.Token));
        var restarted = events.Skip(1).First();
        Assert.Equal((CellEvent.Restarted, "depth-9"), (restarted.Event, restarted.Cell));
        Assert.StartsWith($"{last}: ", restarted.Problem);
        Assert.Equal(1, events.First(e => e.Event == CellEvent.Epoch).Epoch!.Metrics.Epoch);   // from the start
    }

    /// <summary>A 3-seed study was refused at --seeds 5 in its folder, and trained again from nothing in another (study audit,
    /// session 46): more seeds of the same settings keep the seeds trained and train the new ones; fewer are refused.</summary>
    [Fact]
    public void A_study_takes_more_seeds_in_its_folder_training_only_the_new_ones()
    {
        using var dir = new TempDirectory();
        var study = StudyCatalog.Get("depth");
        var one = StudySettings.Small with { Seeds = 1, Epochs = 1, SubsetPerClass = 13, TestSubsetPerClass = 1, StopAfterSteps = 1 };
        var first = StudyRunner.Run(study, one, dir.File("runs"));
        var events = new List<StudyProgress>();
        var both = StudyRunner.Run(study, one with { Seeds = 2 }, dir.File("runs"), events.Add);
        Assert.Equal(["Skipped depth-9/0", "Started depth-9/1", "Skipped depth-12/0", "Started depth-12/1", "Skipped depth-15/0", "Started depth-15/1"],
                     events.Where(e => e.Event is CellEvent.Skipped or CellEvent.Started).Select(e => $"{e.Event} {e.Cell}/{e.Seed}"));
        Assert.Equal(first, both.Where(r => r.Seed == 0));
        var fewer = Assert.Throws<InvalidSettingException>(() => StudyRunner.Run(study, one, dir.File("runs")));
        Assert.Contains("holds 'depth' with other settings (2 seeds, ", fewer.Message);
    }

    /// <summary>The report named the command that wrote it and its CPU for every cell, though a study continued at other threads
    /// or on another machine had trained some of them there (study audit, session 46).</summary>
    [Fact]
    public void The_report_says_where_its_cells_trained_where_that_is_not_the_reporting_command()
    {
        var study = StudyCatalog.Get("ensemble");
        using var dir = new TempDirectory();
        string Report(string machine, params string?[] trainedOn)
        {
            var runs = study.Cells.Select((c, i) => new CellRun(c.Name, 0, 0.9, 1000, 12, 1, 60) { TrainedOn = c.IsEnsemble ? null : trainedOn[i] }).ToList();
            var written = StudyReport.Write(study, StudySettings.Small with { Seeds = 1 }, runs, null, dir.Path, machine, "a command", dir.File("runs"));
            return File.ReadAllText(written.Files[0]);
        }
        Assert.DoesNotContain("Trained on", Report("cpu A, 1 thread", "cpu A, 1 thread", "cpu A, 1 thread", "cpu A, 1 thread", "cpu A, 1 thread"));
        Assert.Contains("\n\nTrained on: cpu A, 1 thread (2 runs); cpu B, 2 threads (1 run); not recorded (cells trained by an earlier version of parnet) (1 run).\n\n",
                        Report("cpu A, 1 thread", "cpu A, 1 thread", "cpu B, 2 threads", null, "cpu A, 1 thread"));
        Assert.Contains("\n\nTrained on: cpu A, 1 thread (4 runs).\n\n", Report("cpu A, 2 threads", "cpu A, 1 thread", "cpu A, 1 thread", "cpu A, 1 thread", "cpu A, 1 thread"));
        Assert.DoesNotContain("ResNet", Report("m", "m", "m", "m", "m"));
    }

    /// <summary>The report said the images the settings asked for ("10,000 training images") when --data held fewer (a data
    /// audit of session 47): it says what the cells counted, and the settings' numbers only for cells that recorded none.</summary>
    [Fact]
    public void The_report_says_how_many_images_the_cells_trained_and_were_scored_on()
    {
        var study = StudyCatalog.Get("depth");
        using var dir = new TempDirectory();
        string Report(int? train, int? test) => File.ReadAllText(StudyReport.Write(study, StudySettings.Small with { Seeds = 1 },
            study.Cells.Select(c => new CellRun(c.Name, 0, 0.9, 1000, 12, 1, 60) { TrainImages = train, TestImages = test }).ToList(),
            null, dir.Path, "m", "a command", dir.File("runs")).Files[0]);
        Assert.Contains(" 6 epochs on 300 training images (up to 1000 per class, drawn per seed), scored on 100 test images; 1 seed", Report(300, 100));
        Assert.Contains(" 6 epochs on 10,000 training images (up to 1000 per class, drawn per seed), scored on 5,000 test images; 1 seed", Report(null, null));
    }

    /// <summary>The report said "median of 5 rounds of the median of 20" whatever the latency pass measured (a library audit of
    /// session 47).</summary>
    [Fact]
    public void The_report_says_how_its_latencies_were_taken()
    {
        var study = StudyCatalog.Get("depth");
        using var dir = new TempDirectory();
        var latency = new StudyLatencies(study.Cells.ToDictionary(c => c.Name, _ => 1.5), Rounds: 1, Repeats: 3);
        string md = File.ReadAllText(StudyReport.Write(study, StudySettings.Small with { Seeds = 1 },
            study.Cells.Select(c => new CellRun(c.Name, 0, 0.9, 1000, 12, 1, 60)).ToList(), latency, dir.Path, "m", "a command", dir.File("runs")).Files[0]);
        Assert.Contains("every cell timed in one process after training, in turn (median of 1 round of the median of 3; ", md);
    }

    /// <summary>Table 8's ResNet was timed with its BatchNorms unfolded beside fused ParNets, without a word (study audit, session 46).</summary>
    [Fact]
    public void A_resnet_cells_latency_is_said_to_be_of_its_unfolded_network()
    {
        var study = StudyCatalog.Get("block-type");
        using var dir = new TempDirectory();
        var runs = study.Cells.Select(c => new CellRun(c.Name, 0, 0.9, 1000, 12, 1, 60)).ToList();
        var written = StudyReport.Write(study, StudySettings.Small with { Seeds = 1 }, runs, null, dir.Path, "m", "a command", dir.File("runs"));
        Assert.Contains(". A ResNet cell is timed as built, its BatchNorms not folded into its convolutions (the ParNets are fused): its latency is an upper bound. ",
                        File.ReadAllText(written.Files[0]));
    }

    /// <summary>An ensemble member's missing test probabilities were "weights file not found", with no way out (study audit,
    /// session 46); a plumbing run without --out went into the study's default folder, pinning its settings there, and the
    /// study itself was then refused in it.</summary>
    [Fact]
    public void A_members_missing_probabilities_say_how_to_score_it_again_and_a_plumbing_run_keeps_to_a_folder_of_its_own()
    {
        using var dir = new TempDirectory();
        string work = dir.File("work");
        Directory.CreateDirectory(work);
        string[] plumbing = ["study", "ensemble", "--seeds", "1", "--epochs", "1", "--subset", "13", "--test-subset", "1", "--steps", "1", "--threads", "1"];
        var ran = RunRecordTests.Parnet(work, plumbing);
        Assert.True(ran.Code == 0, ran.Err + ran.Out);
        string runs = Path.Combine(work, "runs", "studies", "ensemble-steps");
        Assert.True(File.Exists(Path.Combine(runs, "ensemble.md")), ran.Out);
        Assert.False(Directory.Exists(Path.Combine(work, "runs", "studies", "ensemble")));
        // a finished study (one step an epoch at 13 images a class): a member's probabilities lost
        string[] study = ["study", "ensemble", "--seeds", "1", "--epochs", "1", "--subset", "13", "--test-subset", "1", "--threads", "1", "--out", "finished"];
        var trained = RunRecordTests.Parnet(work, study);
        Assert.True(trained.Code == 0, trained.Err + trained.Out);
        string named = Path.Combine("finished", "single-2", "seed-0"), probabilities = Path.Combine(work, named, "test-probabilities.safetensors");
        File.Delete(probabilities);
        var missing = RunRecordTests.Parnet(work, study);
        CliRunner.AssertUserError(missing, $"parnet study: {Path.Combine(named, "test-probabilities.safetensors")} is missing: ensemble averages " +
                                           $"single-2's test probabilities; delete {Path.Combine(named, "cell.json")} to score single-2 seed 0 again (from its last checkpoint)");
        // which it does, without training: its last checkpoint had finished
        File.Delete(Path.Combine(work, named, "cell.json"));
        var scored = RunRecordTests.Parnet(work, study);
        Assert.True(scored.Code == 0, scored.Err + scored.Out);
        // with an estimate of the time left from the runs skipped before it (StudyTimeLeftTests check its arithmetic)
        Assert.Matches(@"\n  single-2 seed 0: training \(run 3 of 4, 0m00s into the study, about \dm\d\ds of training left\) \.\.\.\n    its training had finished: scoring it\n  single-2 seed 0: done",
                       scored.Out.ReplaceLineEndings("\n"));
        Assert.True(File.Exists(probabilities));
    }

    [Fact]
    public void The_reports_training_time_counts_each_trained_run_once_not_an_ensembles_members_again()
    {
        var study = StudyCatalog.Get("ensemble");
        var runs = study.Cells.Select(c => new CellRun(c.Name, 0, 0.9, 1000, 12, 1, c.IsEnsemble ? 180 : 60)).ToList();   // members' 3 x 60 s
        using var dir = new TempDirectory();
        var written = StudyReport.Write(study, StudySettings.Small with { Seeds = 1 }, runs, null, dir.Path, "a machine", "a command", dir.File("runs"));
        string table = File.ReadAllText(written.Files[0]);
        int trained = study.TrainedCells.Count();
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"Training: {trained * 60 / 60.0:F1} min over the {trained} trained runs "), table);
    }

    [Fact]
    public void Eval_of_a_resolution_cell_scores_it_at_the_side_it_trained_at()
    {
        // eval --run scored the 16 and 48 px cells at the recipe's 32 px, with no word (study audit, session 40)
        using var dir = new TempDirectory();
        var study = CliRunner.Run("study", "scaling", "--seeds", "1", "--epochs", "1", "--subset", "13", "--test-subset", "1", "--steps", "1",
                                  "--out", dir.File("runs"));
        Assert.True(study.Code == 0, study.Err + study.Out);
        // a plumbing run (--steps) reports beside its runs, not over the committed results/studies (study audit, session 40)
        Assert.True(File.Exists(Path.Combine(dir.File("runs"), "scaling.md")), study.Out);
        foreach (var (cell, side) in new[] { ("r16", 16), ("r48", 48), ("w16", 32) })
        {
            var eval = CliRunner.Run("eval", "--run", Path.Combine(dir.File("runs"), cell, "seed-0"), "--subset", "1", "--threads", "1");
            Assert.True(eval.Code == 0, eval.Err);
            Assert.Contains($" images, 1x{side}x{side}; weights ", eval.Out);
        }
    }

    [Fact]
    public void A_study_that_stopped_before_any_cell_finished_takes_the_settings_of_the_next_command()
    {
        // `study depth --data WRONG` failed in its first cell and pinned its settings: the corrected command with
        // --seeds 1 was refused ("holds 'depth' with other settings") though the folder held no result
        using var dir = new TempDirectory();
        var study = StudyCatalog.Get("depth");
        string runs = dir.File("runs"), empty = dir.File("empty");
        Directory.CreateDirectory(empty);
        var first = StudySettings.Small with { Seeds = 3, SubsetPerClass = 13, TestSubsetPerClass = 1, StopAfterSteps = 1, DataDirectory = empty };
        Assert.Contains("no Fashion-MNIST IDX files", Assert.ThrowsAny<Exception>(() => StudyRunner.Run(study, first, runs)).Message);
        var second = first with { Seeds = 1, Epochs = 1, DataDirectory = null };
        Assert.Equal(3, StudyRunner.Run(study, second, runs).Count);
        // once a cell has finished, the folder's settings hold
        Assert.Contains("with other settings (1 seed, 1 epoch, subset 13, test subset 1, 1 step per cell; here 3 seeds",
            Assert.Throws<ParNet.Runtime.InvalidSettingException>(() => StudyRunner.Run(study, first with { DataDirectory = null }, runs)).Message);
    }

    [Fact]
    public async Task Sigterm_during_a_study_says_how_to_continue_leaves_the_cell_unfinished_and_exits_143()
    {
        // it ended the process at once and without a word
        using var dir = new TempDirectory();
        string runs = dir.File("runs");
        var (exitCode, stdout) = await SigtermRun.RunAsync(["study", "depth", "--seeds", "1", "--epochs", "100000", "--subset", "13", "--test-subset", "1",
                                                            "--threads", "1", "--out", runs, "--results", dir.File("results")],
                                                           line => line.StartsWith("    epoch 1/100000:", StringComparison.Ordinal));
        Assert.Equal(143, exitCode);
        Assert.Contains($"terminated (SIGTERM): the finished runs are kept in {runs}; continue with the same command (the unfinished run continues from its last checkpoint)", stdout);
        Assert.Null(StudyRunner.Load(Path.Combine(runs, "depth-9", "seed-0")));
        Assert.False(Directory.Exists(dir.File("results")) && Directory.EnumerateFiles(dir.File("results"), "depth.*").Any());
        // the same command continues the cell and says so (it said "training" as for a new one; study audit, session 46)
        var (again, said) = await SigtermRun.RunAsync(["study", "depth", "--seeds", "1", "--epochs", "100000", "--subset", "13", "--test-subset", "1",
                                                       "--threads", "1", "--out", runs, "--results", dir.File("results")],
                                                      line => line.StartsWith("    continuing its unfinished attempt ", StringComparison.Ordinal));
        Assert.Equal(143, again);
        Assert.Equal("  depth-9 seed 0: training (run 1 of 3, 0m00s into the study) ...", said.First(l => l.StartsWith("  depth-9", StringComparison.Ordinal)));
        Assert.Matches(@"^    continuing its unfinished attempt (after epoch \d+|in epoch \d+, after its batch \d+)$",
                       said.First(l => l.StartsWith("    continuing", StringComparison.Ordinal)));
    }

    /// <summary>SIGTERM while the trained cells are timed ended the process without a word (audit of session 36): it says
    /// the report was not written, and writes none (a stop while the three files were written left a new NAME.md beside
    /// an old NAME.png; they are now written before a signal is answered).</summary>
    [Fact]
    public async Task Sigterm_while_timing_says_the_report_was_not_written_and_writes_none()
    {
        using var dir = new TempDirectory();
        string runs = dir.File("runs"), results = dir.File("results");
        var (exitCode, stdout) = await SigtermRun.RunAsync(["study", "sse-silu", "--seeds", "1", "--epochs", "1", "--subset", "13", "--test-subset", "1",
                                                            "--steps", "1", "--threads", "1", "--out", runs, "--results", results],
                                                           line => line.StartsWith("  timing every cell's fused network", StringComparison.Ordinal));
        Assert.Equal(143, exitCode);
        Assert.Equal("terminated (SIGTERM) while timing: the report was not written; the trained runs are kept: the same command times them again and writes it",
                     stdout[^1]);
        Assert.False(Directory.Exists(results) && Directory.EnumerateFiles(results, "sse-silu.*").Any());
    }

    [Fact]
    public void A_killed_cell_is_trained_again_and_the_finished_ones_are_kept()
    {
        using var dir = new TempDirectory();
        string runs = dir.File("runs"), results = dir.File("results");
        Assert.Equal(0, CliRunner.Run(["study", "sse-silu", .. TinyStudy, "--out", runs, "--results", results]).Code);
        // as if the process died while training sse-silu seed 1: its folder holds a run without cell.json
        File.Delete(Path.Combine(runs, "sse-silu", "seed-1", "cell.json"));
        var again = CliRunner.Run(["study", "sse-silu", .. TinyStudy, "--out", runs, "--results", results]);
        Assert.Equal(0, again.Code);
        Assert.Equal(5, again.Out.Split('\n').Count(l => l.Contains("finished before, skipped")));
        Assert.Contains("sse-silu seed 1: training", again.Out);
        Assert.True(File.Exists(Path.Combine(runs, "sse-silu", "seed-1", "cell.json")));
    }

    [Fact]
    public void A_results_or_run_folder_that_cannot_be_written_is_refused_before_any_cell_trains()
    {
        // --results FILE failed after every cell had trained, with the OS's "The file '...' already exists."
        using var dir = new TempDirectory();
        string runs = dir.File("runs"), file = dir.File("a-file");
        File.WriteAllText(file, "not a folder");
        string[] tiny = ["study", "depth", "--seeds", "1", "--epochs", "1", "--subset", "13", "--test-subset", "1", "--steps", "1", "--threads", "1"];
        CliRunner.AssertUserError(CliRunner.Run([.. tiny, "--out", runs, "--results", file]), $"--results {file}: cannot write there");
        Assert.False(Directory.Exists(Path.Combine(runs, "depth-9")));
        CliRunner.AssertUserError(CliRunner.Run([.. tiny, "--out", file, "--results", dir.File("results")]), $"--out {file}: cannot write there");
        Assert.Equal("not a folder", File.ReadAllText(file));
    }

    [Fact]
    public void A_subset_beyond_what_Fashion_MNIST_holds_is_refused_not_reported_as_trained_on()
    {
        // --subset 100000 trained on the 6,000 per class there are and the report said "1,000,000 training images";
        // --test-subset 100000 said "scored on 1,000,000 test images"
        Assert.Equal("StudySettings.SubsetPerClass = 100000: Fashion-MNIST has 6000 training images per class (StudySettings.SubsetPerClass = 6000 for all)",
            Assert.Throws<ParNet.Runtime.InvalidSettingException>(() => (StudySettings.Small with { SubsetPerClass = 100_000 }).Validate()).Message);
        Assert.Equal("StudySettings.TestSubsetPerClass = 1001: Fashion-MNIST has 1000 test images per class (StudySettings.TestSubsetPerClass = 1000 for all)",
            Assert.Throws<ParNet.Runtime.InvalidSettingException>(() => (StudySettings.Small with { TestSubsetPerClass = 1001 }).Validate()).Message);
        (StudySettings.Small with { SubsetPerClass = 6000, TestSubsetPerClass = 1000 }).Validate();   // all of them, named: fine
        StudySettings.Full.Validate();
        // the command names its options, and how to ask for all (not "leave --subset out": the small scale then takes 1,000)
        CliRunner.AssertUserError(CliRunner.Run("study", "depth", "--subset", "100000"),
            "parnet study: --subset 100000: Fashion-MNIST has 6000 training images per class (--subset 6000 for all)");
        CliRunner.AssertUserError(CliRunner.Run("study", "depth", "--test-subset", "1001"),
            "parnet study: --test-subset 1001: Fashion-MNIST has 1000 test images per class (--test-subset 1000 for all)");
    }

    [Theory]
    [InlineData(new[] { "study", "table-99" }, "unknown study 'table-99'")]
    [InlineData(new[] { "study", "depth", "--subset", "5" }, "50 training images are fewer than one batch of 128")]
    [InlineData(new[] { "study", "depth", "--subset", "-1" }, "--subset -1: at least 1 image per class")]
    [InlineData(new[] { "study", "depth", "--epochs", "0" }, "--epochs 0: at least 1")]
    [InlineData(new[] { "study", "depth", "--seeds", "0" }, "parnet study: --seeds 0: at least 1 (3 give the spread the verdicts need)")]
    [InlineData(new[] { "study", "depth", "--test-subset", "0" }, "parnet study: --test-subset 0: at least 1 image per class")]
    [InlineData(new[] { "study", "depth", "--steps", "0" }, "parnet study: --steps 0: at least 1")]
    [InlineData(new[] { "study", "depth", "--scale", "huge" }, "--scale huge: small or full")]
    [InlineData(new[] { "study" }, "name a study")]
    public void Bad_input_is_one_line(string[] args, string message) => CliRunner.AssertUserError(CliRunner.Run(args), message);
}
