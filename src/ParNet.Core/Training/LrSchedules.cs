using ParNet.Runtime;

namespace ParNet.Training;

/// <summary>
/// Learning-rate schedules as small pure functions of the (fractional) epoch: epoch 3.5 is half-way
/// through the fourth epoch. Step decays apply from the first step of their epoch on.
/// </summary>
public static class LrSchedules
{
    /// <summary>x gamma every <paramref name="stepEpochs"/> epochs: lr * gamma^floor(epoch / stepEpochs).</summary>
    /// <remarks>No tolerance: the trainer logs an epoch's LR at 1e-9 before its end, which a +1e-9 here carried into the
    /// next step (metrics.csv's epoch 30 of the imagenet recipe said 0.01 while it trained at 0.1). Steps start at exact
    /// epochs (epoch + 0 / batches), so none needs one.</remarks>
    public static double Step(double baseLr, double epoch, int stepEpochs, double gamma)
        => baseLr * Math.Pow(gamma, Math.Floor(epoch / stepEpochs));

    /// <summary>x gamma at each milestone epoch reached (milestones in epochs); as <see cref="Step"/>, no tolerance.</summary>
    public static double MultiStep(double baseLr, double epoch, IReadOnlyList<int> milestoneEpochs, double gamma)
        => baseLr * Math.Pow(gamma, milestoneEpochs.Count(m => epoch >= m));

    /// <summary>Half cosine from baseLr at <paramref name="start"/> to minLr at <paramref name="end"/>.</summary>
    public static double Cosine(double baseLr, double epoch, double start, double end, double minLr = 0)
    {
        if (end <= start) return baseLr;
        double t = Math.Clamp((epoch - start) / (end - start), 0, 1);
        return minLr + (baseLr - minLr) * 0.5 * (1 + Math.Cos(Math.PI * t));
    }

    /// <summary>Straight line from baseLr at <paramref name="start"/> to minLr at <paramref name="end"/>.</summary>
    public static double Linear(double baseLr, double epoch, double start, double end, double minLr = 0)
    {
        if (end <= start) return baseLr;
        double t = Math.Clamp((epoch - start) / (end - start), 0, 1);
        return baseLr + (minLr - baseLr) * t;
    }

    /// <summary>
    /// Linear warm-up: during the first <paramref name="warmupEpochs"/> the LR rises from
    /// startFactor * lr to lr; afterwards <paramref name="lr"/> unchanged.
    /// </summary>
    public static double Warmup(double lr, double epoch, double warmupEpochs, double startFactor = 0)
        => warmupEpochs > 0 && epoch < warmupEpochs ? lr * (startFactor + (1 - startFactor) * epoch / warmupEpochs) : lr;

    /// <summary>
    /// Where a schedule of <paramref name="epochs"/> stands under a time budget: the epoch position, or the
    /// budget's used fraction of the epochs when that is further along (the schedule then ends with the budget).
    /// </summary>
    public static double BudgetedPosition(double epochPosition, int epochs, double secondsUsed, double budgetSeconds)
        => Math.Max(epochPosition, epochs * secondsUsed / budgetSeconds);

    /// <summary>The milestone epochs of a multi-step schedule: round(fraction * epochs).</summary>
    public static int[] MilestoneEpochs(IEnumerable<double> fractions, int epochs)
        => fractions.Select(f => (int)Math.Round(f * epochs, MidpointRounding.AwayFromZero)).ToArray();

    /// <summary>
    /// The warning for a run whose every epoch is warm-up (<see cref="Recipe.AllWarmup"/>), worded with <paramref name="names"/>,
    /// or null: the LR rises to its peak (the recipe's, scaled to <paramref name="globalBatch"/>) and ends there, never decaying
    /// (a trial run of one epoch of a recipe with one warm-up epoch). A warning, not a refusal, as <see cref="UnreachedSteps"/>.
    /// </summary>
    public static string? AllWarmup(Recipe r, int globalBatch, SettingNames names)
    {
        if (!r.AllWarmup) return null;
        string warmup = SettingNames.Of(nameof(Recipe), nameof(Recipe.WarmupEpochs));
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"the {r.Epochs} epoch{(r.Epochs > 1 ? "s are" : " is")} all warm-up ({names.Given(warmup, r.WarmupEpochs.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture))}): " +
            $"the LR rises to {r.ScaledLr(globalBatch):G4} and never decays; give {names.Name(warmup)} below " +
            $"{names.Name(SettingNames.Of(nameof(Recipe), nameof(Recipe.Epochs)))} (0 for none) for a run that ends annealed");
    }

    /// <summary>
    /// What of the recipe's step or multistep schedule its run of <see cref="Recipe.Epochs"/> never carries out, worded with
    /// <paramref name="names"/>, or null when every step falls inside the run: a step of <see cref="Recipe.StepEpochs"/> at
    /// or beyond the run's end never comes (the imagenet recipe's 30 in a run of 8: the LR stays at its peak); a milestone
    /// that rounds to epoch 0 lowers the LR from the first step, one that rounds to the last epoch never comes, and two that
    /// round to one epoch step together. A warning, not a refusal: a trial run of a long recipe is short on purpose.
    /// </summary>
    public static string? UnreachedSteps(Recipe r, SettingNames names)
    {
        string epochs = names.Given(SettingNames.Of(nameof(Recipe), nameof(Recipe.Epochs)), r.Epochs);
        string annealing = names.Given(SettingNames.Of(nameof(Recipe), nameof(Recipe.Schedule)), "cosine");
        if (r.Schedule == ScheduleKind.Step && r.StepEpochs >= r.Epochs)
        {
            string step = SettingNames.Of(nameof(Recipe), nameof(Recipe.StepEpochs));
            string shorter = r.Epochs > 1 ? $"{names.Name(step)} below {r.Epochs}, or " : "";   // a step is at least one epoch
            return $"the LR never steps: one step every {r.StepEpochs} epochs ({names.Given(step, r.StepEpochs)}) in a run of {r.Epochs} ({epochs}); " +
                   $"give {shorter}{annealing} for a run whose LR decays";
        }
        if (r.Schedule != ScheduleKind.MultiStep) return null;
        int[] at = MilestoneEpochs(r.Milestones, r.Epochs);
        string Fractions(IEnumerable<int> i) => string.Join(" and ", i.Select(k => r.Milestones[k].ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)));
        string gamma = r.StepGamma.ToString("G4", System.Globalization.CultureInfo.InvariantCulture);
        string Factor(int count) => count == 1 ? $"x {gamma}" : $"x {gamma}^{count}";
        var unreached = new List<string>();
        foreach (var epoch in Enumerable.Range(0, at.Length).GroupBy(i => Math.Min(at[i], r.Epochs)).OrderBy(g => g.Key))
        {
            string round = epoch.Count() == 1 ? "rounds" : "round";
            if (epoch.Key == 0) unreached.Add($"{Fractions(epoch)} {round} to epoch 0: the LR is {Factor(epoch.Count())} from the first step");
            else if (epoch.Key >= r.Epochs) unreached.Add($"{Fractions(epoch)} {round} to epoch {r.Epochs}, the run's end: {(epoch.Count() == 1 ? "that step never comes" : "those steps never come")}");
            else if (epoch.Count() > 1) unreached.Add($"{Fractions(epoch)} round to epoch {epoch.Key}: {Factor(epoch.Count())} there at once");
        }
        if (unreached.Count == 0) return null;
        string milestones = SettingNames.Of(nameof(Recipe), nameof(Recipe.Milestones));
        // the epochs a milestone can step at: 1 to Epochs - 1 (a run of 2 has room for one milestone alone)
        string fitting = r.Epochs switch
        {
            1 => "",
            2 => $"{names.Name(milestones)} of one fraction, rounding to epoch 1, ",
            _ => $"{names.Name(milestones)} that round to different epochs from 1 to {r.Epochs - 1}, ",
        };
        return $"the multistep schedule's milestones ({names.Name(milestones)}, fractions of a run of {r.Epochs} epochs: {epochs}) at whole epochs: " +
               $"{string.Join("; ", unreached)} (give {fitting}more epochs, or {annealing})";
    }

    /// <summary>The recipe's LR at a fractional epoch, for a run with this batch size.</summary>
    public static double At(Recipe r, double epoch, int? batchSize = null)
    {
        double baseLr = r.ScaledLr(batchSize ?? r.BatchSize);
        double lr = r.Schedule switch
        {
            ScheduleKind.Step => Step(baseLr, epoch, r.StepEpochs, r.StepGamma),
            ScheduleKind.MultiStep => MultiStep(baseLr, epoch, MilestoneEpochs(r.Milestones, r.Epochs), r.StepGamma),
            ScheduleKind.Cosine => Cosine(baseLr, epoch, r.WarmupEpochs, r.Epochs, r.MinLr),
            ScheduleKind.Linear => Linear(baseLr, epoch, r.WarmupEpochs, r.Epochs, r.MinLr),
            ScheduleKind.Constant => baseLr,
            _ => throw new ArgumentException($"unknown schedule {r.Schedule}"),
        };
        return Warmup(lr, epoch, r.WarmupEpochs, r.WarmupStartFactor);
    }
}
