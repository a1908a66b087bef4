namespace ParNet.Tests;

/// <summary>
/// The tests that read or change what the whole process shares run alone, after the classes that xUnit runs side by side:
/// - the process's memory (DataLoaderMemoryTests): beside other classes loading models and images, a fresh-clone CI run
///   read 193 MB of their memory as growth with nothing leaking (2026-12-04);
/// - libtorch's oneDNN switch, process-wide (LibTorchWorkaroundTests turn it off and on; OnnxExportTests run ResNets whose
///   8-channel 7x7 stem turns it off until they restore it): while it is off every conv runs libtorch's own kernel, which
///   answers NCHW, and a test beside it that expects channels_last maps (the Winograd convs of `eval --winograd`) fails.
///   A test of ExportCliTests whose ResNet did that failed OnnxEvalCliTests' Winograd test in 3 of 4 runs (2026-12-04);
/// - libtorch's global random generator (PredictorRandomStateTests: a caller's seeded sequence, and seeded initializations
///   alike, which any model built by a class beside them would draw from).
/// </summary>
[CollectionDefinition(nameof(RunsAlone), DisableParallelization = true)]
public sealed class RunsAlone;
