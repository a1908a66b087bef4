namespace ParNet.Export;

/// <summary>The form <see cref="ClassifierLoader"/> gives a loaded network.</summary>
public enum NetworkForm
{
    /// <summary>As the file holds it: trained weights in their training form, fused weights fused.</summary>
    AsStored,
    /// <summary>Trained ParNet weights re-parameterized (fused weights stay fused); a network with no fused form is refused.</summary>
    Fused,
    /// <summary>Fused where the network has a fused form (a ParNet), as stored otherwise (a ResNet): inference's default,
    /// the same function in fewer, faster layers.</summary>
    FusedWhereFusable,
    /// <summary>Trained weights in their training form (`--unfused`); fused weights, which have no training form, are
    /// refused rather than run fused under that name.</summary>
    Training,
}
