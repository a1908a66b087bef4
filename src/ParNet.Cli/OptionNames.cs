using ParNet.Benchmarking;
using ParNet.Data;
using ParNet.Export;
using ParNet.Inference;
using ParNet.Runtime;
using ParNet.Serving;
using ParNet.Studies;
using ParNet.Training;

namespace ParNet.Cli;

/// <summary>
/// The library's settings by the options of `parnet` that set them. The library's messages name settings as its API does
/// ("StudySettings.Seeds = 0: at least 1"); what the CLI prints names the option the user gave ("--seeds 0: at least 1").
/// One map for every command: wherever a setting appears, one option sets it. A setting missing here is printed by its API name.
/// </summary>
public sealed class OptionNames : SettingNames
{
    /// <summary>The names every command prints library messages with.</summary>
    public static OptionNames Cli { get; } = new();

    static readonly Dictionary<string, string> Options = new()
    {
        [Of(nameof(StudySettings), nameof(StudySettings.Seeds))] = "--seeds",
        [Of(nameof(StudySettings), nameof(StudySettings.Epochs))] = "--epochs",
        [Of(nameof(StudySettings), nameof(StudySettings.SubsetPerClass))] = "--subset",
        [Of(nameof(StudySettings), nameof(StudySettings.TestSubsetPerClass))] = "--test-subset",
        [Of(nameof(StudySettings), nameof(StudySettings.StopAfterSteps))] = "--steps",
        [StudyRunner.DirectorySetting] = "--out",
        [StudyReport.DirectorySetting] = "--results",
        [Of(nameof(TrainingRunPlan), nameof(TrainingRunPlan.ResumeDirectory))] = "--resume",
        [Of(nameof(TrainOptions), nameof(TrainOptions.ResumeFrom))] = "--resume",
        [Of(nameof(TrainOptions), nameof(TrainOptions.ScheduleBudget))] = "--schedule-budget",
        [Of(nameof(Recipe), nameof(Recipe.Epochs))] = "--epochs",
        [Of(nameof(Recipe), nameof(Recipe.BatchSize))] = "--batch-size",
        [Of(nameof(Recipe), nameof(Recipe.Lr))] = "--lr",
        [Of(nameof(Recipe), nameof(Recipe.Momentum))] = "--momentum",
        [Of(nameof(Recipe), nameof(Recipe.Nesterov))] = "--nesterov",
        [Of(nameof(Recipe), nameof(Recipe.WeightDecay))] = "--weight-decay",
        [Of(nameof(Recipe), nameof(Recipe.LabelSmoothing))] = "--label-smoothing",
        [Of(nameof(Recipe), nameof(Recipe.EmaDecay))] = "--ema-decay",
        [Of(nameof(Recipe), nameof(Recipe.BackboneLrScale))] = "--backbone-lr-scale",
        [Of(nameof(Recipe), nameof(Recipe.WarmupEpochs))] = "--warmup",
        [Of(nameof(Recipe), nameof(Recipe.StepEpochs))] = "--step-epochs",
        [Of(nameof(Recipe), nameof(Recipe.MinLr))] = "--min-lr",
        [Of(nameof(Recipe), nameof(Recipe.StepGamma))] = "--gamma",
        [Of(nameof(Recipe), nameof(Recipe.Milestones))] = "--milestones",
        [Of(nameof(Recipe), nameof(Recipe.Schedule))] = "--schedule",
        [Of(nameof(Recipe), nameof(Recipe.HeadDropout))] = "--head-dropout",
        [Of(nameof(Recipe), nameof(Recipe.BlockDropout))] = "--block-dropout",
        [Of(nameof(Recipe), nameof(Recipe.CropPadding))] = "--padding",
        [Of(nameof(Recipe), nameof(Recipe.RandomErasing))] = "--erasing",
        [DataLocations.DataDirectorySetting] = "--data",
        [DataLocations.DatasetSetting] = "--dataset",
        [Of(nameof(RunSettings), nameof(RunSettings.Classes))] = "--classes",
        [ClassifierLoader.ConfigSetting] = "--model NAME or --config FILE",
        [ImagePredictor.ConfigSetting] = "--model or --config",
        [Of(nameof(InferenceBenchmarkOptions), nameof(InferenceBenchmarkOptions.Model))] = "--model or --config",
        [Of(nameof(InferenceBenchmarkOptions), nameof(InferenceBenchmarkOptions.OnnxModel))] = "--onnx-model",
        [Of(nameof(InferenceBenchmarkOptions), nameof(InferenceBenchmarkOptions.Batch))] = "--batch-size",
        [Of(nameof(TrainingBenchmarkOptions), nameof(TrainingBenchmarkOptions.Batch))] = "--batch-size",
        [Of(nameof(TrainingBenchmarkOptions), nameof(TrainingBenchmarkOptions.Steps))] = "--steps",
        [Of(nameof(TrainingBenchmarkOptions), nameof(TrainingBenchmarkOptions.ImageSize))] = "--image-size",
        [Of(nameof(InferenceBenchmarkOptions), nameof(InferenceBenchmarkOptions.Rounds))] = "--rounds",
        [Of(nameof(InferenceBenchmarkOptions), nameof(InferenceBenchmarkOptions.ThroughputRounds))] = "--throughput-rounds",
        [Of(nameof(InferenceBenchmarkOptions), nameof(InferenceBenchmarkOptions.Warmup))] = "--warmup",
        [Of(nameof(InferenceBenchmarkOptions), nameof(InferenceBenchmarkOptions.Threads))] = "--threads",
        [Of(nameof(InferenceBenchmarkOptions), nameof(InferenceBenchmarkOptions.ImageSize))] = "--image-size",
        [Of(nameof(InferenceBenchmarkOptions), nameof(InferenceBenchmarkOptions.StreamDevices))] = "--stream-devices",
        [Of(nameof(InferenceBenchmarkOptions), nameof(InferenceBenchmarkOptions.CudaDevices))] = "--cuda-devices",
        [Of(nameof(InferenceBenchmarkOptions), nameof(InferenceBenchmarkOptions.PyTorch))] = "--pytorch-code",
        [Of(nameof(InferenceBenchmarkOptions), nameof(InferenceBenchmarkOptions.Only))] = "--only",
        [Of(nameof(PyTorchReferenceOptions), nameof(PyTorchReferenceOptions.AuthorsCode))] = "--pytorch-code",
        [Of(nameof(PyTorchReferenceOptions), nameof(PyTorchReferenceOptions.Python))] = "--python",
        [Of(nameof(PyTorchReferenceOptions), nameof(PyTorchReferenceOptions.Fixture))] = "--pytorch-fixture",
        [Of(nameof(TrainingBenchmarkOptions), nameof(TrainingBenchmarkOptions.ForwardOnly))] = "--forward-only",
        [Of(nameof(PredictorSource), nameof(PredictorSource.Weights))] = "--weights",
        [Of(nameof(PredictorSource), nameof(PredictorSource.Model))] = "--model NAME or --config FILE.json",
        [Of(nameof(PredictorSource), nameof(PredictorSource.Engine))] = "--engine",
        [Of(nameof(PredictorSource), nameof(PredictorSource.ImageSize))] = "--image-size",
        [ImagePredictor.ImageSizeSetting] = "--image-size",
        [DeploymentInfo.DatasetSetting] = "--dataset",
        [Of(nameof(MicroBatcherOptions), nameof(MicroBatcherOptions.MaxWait))] = "--max-wait-ms",
        [Of(nameof(MicroBatcherOptions), nameof(MicroBatcherOptions.Timeout))] = "--timeout-ms",
        [Of(nameof(MicroBatcherOptions), nameof(MicroBatcherOptions.MaxBatch))] = "--max-batch",
        [Of(nameof(MicroBatcherOptions), nameof(MicroBatcherOptions.QueueCapacity))] = "--queue-capacity",
        [Of(nameof(ServingOptions), nameof(ServingOptions.MaxBodyBytes))] = "--max-body-mb",
        [Of(nameof(ServingOptions), nameof(ServingOptions.MaxPixels))] = "--max-megapixels",
        [Of(nameof(ServingOptions), nameof(ServingOptions.AllowedHosts))] = "--allowed-hosts",
        [Of(nameof(ServingOptions), nameof(ServingOptions.Host))] = "--host",
        [Of(nameof(ServingOptions), nameof(ServingOptions.Port))] = "--port",
    };

    /// <summary>Settings whose values the CLI sets with switches: the switch that gives each value.</summary>
    static readonly Dictionary<(string Setting, object Value), string> Switches = new()
    {
        [(Of(nameof(PredictorSource), nameof(PredictorSource.Form)), NetworkForm.Fused)] = "--fused",
        [(Of(nameof(PredictorSource), nameof(PredictorSource.Form)), NetworkForm.Training)] = "--unfused",
        [(ClassifierLoader.FormSetting, NetworkForm.Fused)] = "--fused",
        [(ClassifierLoader.FormSetting, NetworkForm.Training)] = "--unfused",
        [(Of(nameof(PredictorSource), nameof(PredictorSource.WeightsPick)), ParNet.Weights.CheckpointWeights.Ema)] = "--ema",
    };

    OptionNames() { }

    /// <summary>An exception's message as the CLI prints it: the settings it names called by their options.</summary>
    public static string Worded(Exception e) => e is INamesSettings named ? named.WordedWith(Cli) : e.Message;

    /// <summary>The option: "--seeds".</summary>
    public override string Name(string setting) => Options.GetValueOrDefault(setting) ?? base.Name(setting);

    /// <summary>The option as the user writes it with a value: "--seeds 0"; a switch for a value one gives: "--unfused".</summary>
    public override string Given(string setting, object? value) =>
        value is not null && Switches.TryGetValue((setting, value), out var flag) ? flag
        : Options.TryGetValue(setting, out var option) ? $"{option} {Value(setting, value)}" : base.Given(setting, value);

    /// <summary>A value as the user writes it: an engine by its --engine name ("onnxruntime-cuda"), a duration in the
    /// milliseconds of --max-wait-ms and --timeout-ms, a body size in the MiB of --max-body-mb, pixels in the 2^20 of --max-megapixels.</summary>
    public override string Value(string setting, object? value) => value switch
    {
        PredictorEngine engine => PredictorEngines.Name(engine),
        TimeSpan duration when setting == Of(nameof(MicroBatcherOptions), nameof(MicroBatcherOptions.MaxWait))
                                || setting == Of(nameof(MicroBatcherOptions), nameof(MicroBatcherOptions.Timeout)) => Text(duration.TotalMilliseconds),
        long bytes when setting == Of(nameof(ServingOptions), nameof(ServingOptions.MaxBodyBytes)) => Text(bytes / (1024.0 * 1024)),
        long pixels when setting == Of(nameof(ServingOptions), nameof(ServingOptions.MaxPixels)) => Text(pixels / (1024.0 * 1024)),
        _ => base.Value(setting, value),
    };
}
