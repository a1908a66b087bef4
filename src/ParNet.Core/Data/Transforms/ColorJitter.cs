namespace ParNet.Data;

/// <summary>
/// torchvision ColorJitter: brightness, contrast and saturation factors uniform in [max(0, 1 - v), 1 + v],
/// hue shift uniform in [-hue, hue] turns, applied in a random order. Defaults are the common 0.4/0.4/0.4/0
/// of ImageNet recipes (timm's color_jitter=0.4).
/// </summary>
public sealed class ColorJitter(float brightness = 0.4f, float contrast = 0.4f, float saturation = 0.4f, float hue = 0f) : IImageTransform
{
    public float Brightness { get; } = brightness;
    public float Contrast { get; } = contrast;
    public float Saturation { get; } = saturation;
    public float Hue { get; } = hue;

    public ImageF Apply(ImageF image, SampleRandom random)
    {
        int[] order = [0, 1, 2, 3];
        random.Shuffle(order);
        float b = Factor(Brightness, random), c = Factor(Contrast, random), s = Factor(Saturation, random);
        float h = Hue > 0 ? (float)random.Uniform(-Hue, Hue) : 0f;
        foreach (int op in order)
        {
            switch (op)
            {
                case 0 when Brightness > 0: PixelOps.Brightness(image, b); break;
                case 1 when Contrast > 0: PixelOps.Contrast(image, c); break;
                case 2 when Saturation > 0: PixelOps.Saturation(image, s); break;
                case 3 when Hue > 0: PixelOps.Hue(image, h); break;
            }
        }
        return image;
    }

    static float Factor(float strength, SampleRandom random)
        => strength > 0 ? (float)random.Uniform(Math.Max(0, 1 - strength), 1 + strength) : 1f;

    public (int Channels, int Height, int Width) OutputShape((int Channels, int Height, int Width) input) => input;
}
