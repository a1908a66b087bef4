using ParNet.Runtime;

namespace ParNet.Training;

/// <summary>Things a run reports while it works; the library prints nothing, the CLI renders these.</summary>
public abstract record TrainEvent;

/// <summary>One training step done. <paramref name="Loss"/> and <paramref name="Accuracy"/> are the epoch's so far (the
/// mean over every image it has trained, as the epoch's summary reports them); <paramref name="StepLoss"/> is this step's
/// own mean loss over its batch (all processes'), the number a loss curve per step plots.</summary>
public sealed record StepEvent(int Epoch, int Epochs, int Batch, int Batches, double Loss, double Accuracy, double StepLoss,
                               double Lr, double ImagesPerSecond, TimeSpan Eta) : TrainEvent;

public sealed record EvalProgressEvent(int Epoch, int Batch, int Batches) : TrainEvent;

public sealed record EpochEvent(EpochMetrics Metrics, int Epochs, bool IsBest) : TrainEvent;

public record MessageEvent(string Text) : TrainEvent;

/// <summary>A run that trains, but whose LR schedule likely does not do what was meant: every epoch warm-up
/// (<see cref="LrSchedules.AllWarmup"/>), a step or milestone outside the run (<see cref="LrSchedules.UnreachedSteps"/>).
/// <see cref="MessageEvent.Text"/> names the settings as the API does; a front end shows it as a warning in its own names.</summary>
public sealed record ScheduleWarningEvent : MessageEvent, INamesSettings
{
    readonly Func<SettingNames, string> _wording;

    ScheduleWarningEvent(Func<SettingNames, string> wording) : base(wording(SettingNames.Api)) => _wording = wording;

    public string WordedWith(SettingNames names) => _wording(names);

    /// <summary>The warnings for a run of <paramref name="r"/> at <paramref name="globalBatch"/> images a step (all processes').</summary>
    public static IEnumerable<ScheduleWarningEvent> For(Recipe r, int globalBatch)
    {
        Func<SettingNames, string?>[] warnings = [names => LrSchedules.AllWarmup(r, globalBatch, names), names => LrSchedules.UnreachedSteps(r, names)];
        foreach (var warning in warnings)
            if (warning(SettingNames.Api) is not null) yield return new(names => warning(names)!);
    }
}

/// <summary>A resumed run whose schedule budget had ended its LR schedule already (annealed before its last epoch): nothing to
/// do. <see cref="MessageEvent.Text"/> says how to train further in the API's terms (a larger schedule budget).</summary>
public sealed record ScheduleSpentEvent(double BudgetSeconds) : MessageEvent(Describe(SettingNames.Api, BudgetSeconds)), INamesSettings
{
    public string WordedWith(SettingNames names) => Describe(names, BudgetSeconds);

    static string Describe(SettingNames names, double seconds)
    {
        string minutes = (seconds / 60).ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
        string setting = SettingNames.Of(nameof(TrainOptions), nameof(TrainOptions.ScheduleBudget));
        return $"a schedule budget of {minutes} min has ended the run's LR schedule: nothing to do (resume with {names.Given(setting, "MINUTES")}, " +
               $"more than {minutes}, to train further)";
    }
}

/// <summary>A resumed run that had trained all its recipe's epochs already: nothing to do. <see cref="MessageEvent.Text"/> says
/// how to train further in the API's terms (a recipe of more epochs); a front end words it with its own names.</summary>
public sealed record AlreadyTrainedEvent(int Epochs) : MessageEvent(Describe(SettingNames.Api, Epochs)), INamesSettings
{
    public string WordedWith(SettingNames names) => Describe(names, Epochs);

    static string Describe(SettingNames names, int epochs) =>
        $"the run has already trained its {epochs} epoch{(epochs == 1 ? "" : "s")}: nothing to do (resume with {names.Given(SettingNames.Of(nameof(Recipe), nameof(Recipe.Epochs)), "N")}, " +
        $"more than {epochs}, to train further)";
}
