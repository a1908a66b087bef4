using ParNet.Runtime;
using ParNet.Training;

namespace ParNet.Studies;

/// <summary>How much each cell trains. <see cref="Small"/> is sized for this 2-core machine; <see cref="Full"/> for a bigger one.</summary>
public sealed record StudySettings
{
    public int Seeds { get; init; } = 3;
    public int Epochs { get; init; } = 6;
    /// <summary>Training images per class (null: all 6,000).</summary>
    public int? SubsetPerClass { get; init; } = 1000;
    /// <summary>Test images per class (null: all 1,000).</summary>
    public int? TestSubsetPerClass { get; init; } = 500;
    /// <summary>Stop each cell after this many steps (tests: a study end to end in seconds); null: the epochs decide.</summary>
    public long? StopAfterSteps { get; init; }
    /// <summary>Fashion-MNIST's folder; null finds it where Debian installs it.</summary>
    public string? DataDirectory { get; init; }
    /// <summary>Every cell's random shift (pixels): the +-2 px the committed tables (results/studies) were trained with; the
    /// main job's recipe dropped its shift later, and a resumed study must train its remaining cells as it trained the first.</summary>
    public const int CropPadding = 2;

    /// <summary>Fashion-MNIST's images per class: 6,000 in its training split, 1,000 in its test split.</summary>
    public const int TrainImagesPerClass = 6000, TestImagesPerClass = 1000;

    /// <summary>Sized for about an hour per study on a 2-core machine: 10,000 images x 6 epochs per cell and seed, 3 seeds
    /// (the spread the verdicts need), 5,000 test images. Measured (RESULTS.md): sse-silu 13m50s and depth 19m44s (Zen 5,
    /// other work beside them); the studies with single-stream cells, which train 5-10x slower per image, are the long ones:
    /// alone at 2 threads on Zen 3, the slower CPU kind, streams 54m23s and block-type 42m39s (streams 40m and ensemble 42m
    /// on Zen 4).</summary>
    public static StudySettings Small { get; } = new();

    /// <summary>The whole training set, 30 epochs: for a machine with many cores (hours per study on 2 cores).</summary>
    public static StudySettings Full { get; } = new() { Epochs = 30, SubsetPerClass = null, TestSubsetPerClass = null };

    /// <summary>Throws <see cref="InvalidSettingException"/> for a setting no study can train with.</summary>
    public void Validate()
    {
        if (Seeds < 1) throw InvalidSettingException.Given(Setting(nameof(Seeds)), Seeds, "at least 1 (3 give the spread the verdicts need)");
        if (Epochs < 1) throw InvalidSettingException.Given(Setting(nameof(Epochs)), Epochs, "at least 1");
        int batch = Recipes.FashionMnist.BatchSize;
        // more than the data set holds was accepted, and the report then stated it ("1 epoch on 1,000,000 training images")
        if (SubsetPerClass is > TrainImagesPerClass)
            throw MoreThanThereAre(Setting(nameof(SubsetPerClass)), SubsetPerClass, TrainImagesPerClass, "training");
        if (TestSubsetPerClass is > TestImagesPerClass)
            throw MoreThanThereAre(Setting(nameof(TestSubsetPerClass)), TestSubsetPerClass, TestImagesPerClass, "test");
        if (SubsetPerClass is < 1) throw InvalidSettingException.Given(Setting(nameof(SubsetPerClass)), SubsetPerClass, "at least 1 image per class");
        if (SubsetPerClass is int n && n * 10 < batch)
            throw InvalidSettingException.Given(Setting(nameof(SubsetPerClass)), n, $"{n * 10} training images are fewer than one batch of {batch}: nothing would train");
        if (TestSubsetPerClass is < 1) throw InvalidSettingException.Given(Setting(nameof(TestSubsetPerClass)), TestSubsetPerClass, "at least 1 image per class");
        if (StopAfterSteps is < 1) throw InvalidSettingException.Given(Setting(nameof(StopAfterSteps)), StopAfterSteps, "at least 1");
    }

    static string Setting(string member) => SettingNames.Of(nameof(StudySettings), member);

    /// <summary>A subset larger than the split, and the value that takes all of it. (Not "null for all": the command line's
    /// small scale fills a subset left out with its own, so "leave --subset out" did not take all.)</summary>
    static InvalidSettingException MoreThanThereAre(string setting, int? value, int perClass, string split) =>
        new(setting, names => $"{names.Given(setting, value)}: Fashion-MNIST has {perClass} {split} images per class ({names.Given(setting, perClass)} for all)");
}
