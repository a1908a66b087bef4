namespace ParNet.Training;

/// <summary>Things a run reports while it works; the library prints nothing, the CLI renders these.</summary>
public abstract record TrainEvent;

public sealed record StepEvent(int Epoch, int Epochs, int Batch, int Batches, double Loss, double Accuracy, double Lr,
                               double ImagesPerSecond, TimeSpan Eta) : TrainEvent;

public sealed record EvalProgressEvent(int Epoch, int Batch, int Batches) : TrainEvent;

public sealed record EpochEvent(EpochMetrics Metrics, int Epochs, bool IsBest) : TrainEvent;

public sealed record MessageEvent(string Text) : TrainEvent;
