using ParNet.Models;

namespace ParNet.Studies;

/// <summary>
/// One cell of a study's grid: a network trained once per seed. <see cref="Members"/> makes it an ensemble (Table 9):
/// nothing is trained for it; it is scored by averaging its member cells' softmax outputs.
/// </summary>
public sealed record StudyCell(string Name, ModelConfig Model)
{
    /// <summary>Where the cell sits on a curve (Figure 3: parameters, width, streams); null for a table row.</summary>
    public double? X { get; init; }

    /// <summary>For a curve: the curves this cell is a point of (width, streams, resolution; Figure 3's base network is on all three).</summary>
    public IReadOnlyList<string> Series { get; init; } = [];

    /// <summary>The names of the cells whose softmax outputs this ensemble averages; empty for a trained cell.</summary>
    public IReadOnlyList<string> Members { get; init; } = [];

    public bool IsEnsemble => Members.Count > 0;

    /// <summary>The side this cell trains and is scored at (Figure 3's resolution curve); null: the network's Fashion-MNIST
    /// training side (32 px for the CIFAR layout).</summary>
    public int? ImageSize { get; init; }

    /// <summary>Added to every seed of this cell's initialization, order and augmentation: an ensemble's members are the same
    /// network trained from other seeds. Its training images are seed k's subset as every cell's: with their own, an
    /// ensemble of three saw up to three times the images of the network it was compared with (a study audit, session 46).</summary>
    public int SeedOffset { get; init; }
}

/// <summary>A claim of the paper as a comparison of two cells: <see cref="Better"/> beats <see cref="Worse"/> on top-1.</summary>
public sealed record StudyClaim(string Text, string Better, string Worse);

/// <summary>
/// A study: a grid of cells, the paper's claims over them, and what the paper reports (its table or figure, quoted as
/// the claim: the paper's ImageNet/CIFAR numbers are not comparable with Fashion-MNIST ones anyway).
/// </summary>
public sealed record Study(string Name, string PaperReference, string Description, IReadOnlyList<StudyCell> Cells, IReadOnlyList<StudyClaim> Claims)
{
    /// <summary>The x axis of the study's chart when it is a curve (cells with <see cref="StudyCell.X"/>); null: bars.</summary>
    public string? XLabel { get; init; }

    /// <summary>Plot each cell at its compute (MFLOPs of one image) instead of its <see cref="StudyCell.X"/> (Figure 3: width,
    /// streams and resolution all move it, parameters do not move with resolution).</summary>
    public bool XIsFlops { get; init; }

    /// <summary>Cells that are trained (every cell but the ensembles), in grid order.</summary>
    public IEnumerable<StudyCell> TrainedCells => Cells.Where(c => !c.IsEnsemble);

    public StudyCell Cell(string name) => Cells.FirstOrDefault(c => c.Name == name)
        ?? throw new ArgumentException($"study {Name}: no cell '{name}'");

    /// <summary>A fingerprint of the grid (names and configurations), stored in the study folder so that a folder of
    /// another study, or of another grid of this one, is refused rather than mixed in. <paramref name="subsetDrawn"/>: whether
    /// the cells train on a subset drawn per seed (<see cref="StudySettings.SubsetPerClass"/>).</summary>
    public string GridHash(bool subsetDrawn = true)
    {
        // "|seed+N, seed k's subset": before session 46 an offset seed drew its own subset too, so a folder of such cells that
        // trained on subsets is another grid; on all the images (--scale full) nothing changed, nor for cells without an offset
        var text = string.Join("\n", Cells.Select(c => $"{c.Name}|{string.Join("+", c.Members)}|{c.Model.ToJson()}" +
                                                      (c.ImageSize is int side ? $"|{side}px" : "") +
                                                      (c.SeedOffset != 0 && subsetDrawn ? $"|seed+{c.SeedOffset}, seed k's subset" : "")));
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..16].ToLowerInvariant();
    }
}
