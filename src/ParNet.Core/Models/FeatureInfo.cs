namespace ParNet.Models;

/// <summary>One level of <see cref="ImageClassifier.ForwardIntermediates"/> (timm's feature_info): its channels, its
/// stride against the input, and the module (state-dict prefix) that produces it.</summary>
public sealed record FeatureInfo(int Channels, int Stride, string Module);
