namespace ParNet.Data;

/// <summary>
/// The training augmentations of a recipe, as the data pipelines need them (Training's Recipe builds one with
/// <c>Recipe.Augmentation()</c>; Data cannot depend on Training). Defaults are the CIFAR recipe's (paper section 3.3).
/// </summary>
public sealed record AugmentationSettings
{
    /// <summary>Random shift: pixels of zero padding around the network-side image before the random crop
    /// (4: the CIFAR "shift" recipe; fashion-mnist uses 0 and its studies 2, see the recipe). Also the margin of ten-crop.</summary>
    public int CropPadding { get; init; } = 4;

    /// <summary>Random horizontal mirror (on: the paper's "mirror" augmentation).</summary>
    public bool Flip { get; init; } = true;

    /// <summary>Probability of random erasing after normalization (0: off, as in the paper's recipes).</summary>
    public double RandomErasing { get; init; }

    /// <summary>RandAugment m9 mstd0.5 on image folders (off: the paper's CIFAR recipe has none).</summary>
    public bool RandAugment { get; init; }

    /// <summary>Colour jitter strength on image folders (0: off, as in the CIFAR recipe); as timm, only where
    /// <see cref="RandAugment"/> is off.</summary>
    public float ColorJitter { get; init; }

    /// <summary>Train and test side for image folders (224: ImageNet's standard side).</summary>
    public int ImageSize { get; init; } = 224;
}
