using System.Globalization;
using System.Text.Json;
using ParNet.Models;

namespace ParNet.Weights;

/// <summary>
/// What a weights file says of itself in its string metadata (a safetensors header's __metadata__, an ONNX file's
/// metadata_props; the parnet.* keys): the model configuration, class names, data set, normalization, input side and form.
/// Written by export, convert and fuse (as <c>Export.DeploymentInfo</c>, which extends it with where it came from and
/// completes it for deployment) and by a training run's checkpoints (<c>Training.TrainOptions.WeightsMetadata</c>), so that
/// a file copied on its own still says what it is. Null fields are not written.
/// </summary>
public record WeightsMetadata
{
    public ModelConfig? Model { get; init; }
    public IReadOnlyList<string>? ClassNames { get; init; }
    /// <summary>fashion-mnist, mnist, cifar10, cifar100, imagenet/folder (or null: unknown).</summary>
    public string? Dataset { get; init; }
    public float[]? Mean { get; init; }
    public float[]? Std { get; init; }
    public int? ImageSize { get; init; }
    public bool? Fused { get; init; }

    public const string KeyConfig = "parnet.model_config", KeyClassNames = "parnet.class_names", KeyDataset = "parnet.dataset",
                        KeyMean = "parnet.mean", KeyStd = "parnet.std", KeyImageSize = "parnet.image_size", KeyFused = "parnet.fused";

    /// <summary>The metadata entries: strings only.</summary>
    public IEnumerable<KeyValuePair<string, string>> ToEntries()
    {
        if (Model is not null) yield return new(KeyConfig, Model.ToJson());
        if (ClassNames is not null) yield return new(KeyClassNames, JsonSerializer.Serialize(ClassNames));
        if (Dataset is not null) yield return new(KeyDataset, Dataset);
        if (Mean is not null) yield return new(KeyMean, JsonSerializer.Serialize(Mean));
        if (Std is not null) yield return new(KeyStd, JsonSerializer.Serialize(Std));
        if (ImageSize is int size) yield return new(KeyImageSize, size.ToString(CultureInfo.InvariantCulture));
        if (Fused is bool fused) yield return new(KeyFused, fused ? "true" : "false");
    }

    /// <summary>The fields of <paramref name="entries"/> (other keys ignored; empty values are absent ones);
    /// InvalidDataException naming <paramref name="source"/> for a value that does not parse.</summary>
    public static WeightsMetadata FromEntries(IReadOnlyDictionary<string, string> entries, string? source = null)
    {
        string? Get(string key) => entries.TryGetValue(key, out var v) && v.Length > 0 ? v : null;
        WeightsMetadata read;
        try
        {
            read = new WeightsMetadata
            {
                Model = Get(KeyConfig) is { } config ? ModelConfig.FromJson(config) : null,
                ClassNames = Get(KeyClassNames) is { } names ? JsonSerializer.Deserialize<string[]>(names) : null,
                Dataset = Get(KeyDataset),
                Mean = Get(KeyMean) is { } mean ? JsonSerializer.Deserialize<float[]>(mean) : null,
                Std = Get(KeyStd) is { } std ? JsonSerializer.Deserialize<float[]>(std) : null,
                ImageSize = Get(KeyImageSize) is { } size ? int.Parse(size, CultureInfo.InvariantCulture) : null,
                Fused = Get(KeyFused) is { } fused ? fused == "true" : null,
            };
        }
        catch (Exception e) when (e is JsonException or FormatException or ArgumentException)
        {
            throw new InvalidDataException($"{source ?? "model metadata"}: unreadable ParNet metadata ({e.Message})", e);
        }
        if (StatisticsProblem(read.Mean, read.Std) is { } problem)
            throw new InvalidDataException($"{source ?? "model metadata"}: {problem}");
        return read;
    }

    /// <summary>Why stored statistics cannot normalize an image, or null: one value per channel in each, a positive
    /// finite std. A std of 0 failed at the first image as "std must be positive", naming no file (an export audit of session 48).</summary>
    static string? StatisticsProblem(float[]? mean, float[]? std)
    {
        if (mean is null && std is null) return null;
        if (mean is null || std is null) return $"{(mean is null ? KeyStd : KeyMean)} is stored without {(mean is null ? KeyMean : KeyStd)}";
        if (mean.Length != std.Length || mean.Length == 0)
            return $"{KeyMean} has {mean.Length} value(s) and {KeyStd} {std.Length}: one per channel in each";
        if (!mean.All(float.IsFinite) || !std.All(v => float.IsFinite(v) && v > 0))
            return $"{KeyMean} {JsonSerializer.Serialize(mean)}, {KeyStd} {JsonSerializer.Serialize(std)}: the means must be finite and each std a positive number";
        return null;
    }
}
