using ParNet.Data;

namespace ParNet.Tests.Data;

public class TransformTests
{
    /// <summary>Value at (c, y, x) = c * 1000 + y * 100 + x: every pixel says where it came from.</summary>
    static ImageF Coordinates(int channels, int height, int width)
    {
        var image = new ImageF(channels, height, width);
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++) image[c, y, x] = c * 1000 + y * 100 + x;
        return image;
    }

    [Fact]
    public void Normalize_subtracts_mean_and_divides_by_std_per_channel()
    {
        var image = new ImageF([0.5f, 1f, 0.25f, 0f], 2, 1, 2);
        new Normalize([0.5f, 0.25f], [0.25f, 0.5f]).Apply(image, new SampleRandom(1));
        Assert.Equal([0f, 2f, 0f, -0.5f], image.Data);
    }

    [Fact]
    public void Random_crop_matches_its_sampled_offset_with_zero_padding()
    {
        var crop = new RandomCrop(5, padding: 2);
        var source = Coordinates(2, 5, 5);
        var seen = new HashSet<(int, int)>();
        for (int s = 0; s < 200; s++)
        {
            var (top, left) = crop.SampleOffset(5, 5, new SampleRandom((ulong)s));
            Assert.InRange(top, 0, 4);
            Assert.InRange(left, 0, 4);
            seen.Add((top, left));
            var result = crop.Apply(source.Clone(), new SampleRandom((ulong)s));
            for (int c = 0; c < 2; c++)
                for (int y = 0; y < 5; y++)
                    for (int x = 0; x < 5; x++)
                    {
                        int sy = y + top - 2, sx = x + left - 2;
                        float expected = sy is >= 0 and < 5 && sx is >= 0 and < 5 ? c * 1000 + sy * 100 + sx : 0f;
                        Assert.Equal(expected, result[c, y, x]);
                    }
        }
        Assert.Equal(25, seen.Count); // every offset of the 5x5 range occurs
    }

    [Fact]
    public void Flip_mirrors_rows_about_half_the_time()
    {
        var flip = new HorizontalFlip();
        int flipped = 0;
        for (int s = 0; s < 400; s++)
        {
            var result = flip.Apply(Coordinates(1, 2, 3), new SampleRandom((ulong)s));
            if (result[0, 1, 0] == 102) { flipped++; Assert.Equal([2f, 1f, 0f, 102f, 101f, 100f], result.Data); }
            else Assert.Equal(Coordinates(1, 2, 3).Data, result.Data);
        }
        Assert.InRange(flipped, 160, 240);
    }

    /// <summary>The fashion-mnist recipe's flips as the loader draws them (SampleRandom.For(seed, epoch, image), through the
    /// training transform DataPipelines builds for the recipe): about half the images every epoch, drawn afresh
    /// each epoch (an image's flip in one epoch says nothing of its flip in the next, as under torchvision's
    /// RandomHorizontalFlip) and unrelated between neighbouring images. The one part of training that the train-steps check
    /// (bench/ParNet.Bench) leaves out; the PyTorch recipe check draws its flips this way.</summary>
    [Fact]
    public void The_recipes_flips_are_half_the_images_drawn_afresh_every_epoch()
    {
        var recipe = ParNet.Training.Recipes.FashionMnist;
        var pipeline = DataPipelines.FashionTrainTransform(recipe.Network(10, 1), recipe.Augmentation());
        bool Flipped(int epoch, int index)
        {
            var result = pipeline.Apply(Coordinates(1, 28, 28), SampleRandom.For(recipe.Seed, epoch, index));
            // the content's first column (x = 0) lies at 2, its last at 29; normalization keeps their order
            return result[0, 16, 2] > result[0, 16, 29];
        }
        const int images = 2000;   // binomial(2000, 1/2): 1000 +- 22; the bounds are 4.5 of that
        var first = Enumerable.Range(0, images).Select(i => Flipped(0, i)).ToArray();
        var second = Enumerable.Range(0, images).Select(i => Flipped(1, i)).ToArray();
        Assert.InRange(first.Count(f => f), 900, 1100);
        Assert.InRange(second.Count(f => f), 900, 1100);
        Assert.InRange(Enumerable.Range(0, images).Count(i => first[i] == second[i]), 900, 1100);
        Assert.InRange(Enumerable.Range(0, images - 1).Count(i => first[i] == first[i + 1]), 900, 1100);
    }

    [Fact]
    public void Random_resized_crop_boxes_stay_inside_the_scale_and_ratio_bounds()
    {
        var rrc = new RandomResizedCrop(32);
        var areas = new List<double>();
        for (int s = 0; s < 2000; s++)
        {
            var (top, left, h, w) = rrc.SampleBox(300, 400, SampleRandom.For(7, 0, s));
            Assert.True(top >= 0 && left >= 0 && top + h <= 300 && left + w <= 400);
            double fraction = (double)h * w / (300 * 400);
            areas.Add(fraction);
            if ((h, w) != (300, 400)) // a fallback would be the whole (clamped) image
            {
                Assert.InRange(fraction, 0.08 * 0.97, 1.0);
                Assert.InRange((double)w / h, 0.75 * 0.97, 4.0 / 3 * 1.03); // rounding to whole pixels
            }
        }
        Assert.True(areas.Min() < 0.1 && areas.Max() > 0.9);
    }

    [Fact]
    public void Random_resized_crop_area_is_uniform_and_log_ratio_centred_when_nothing_is_rejected()
    {
        // On a square with scale at most 0.5, every box fits (side <= sqrt(0.5 * 4/3) < 1): no rejection,
        // so the area fraction is uniform on [0.08, 0.5] (mean 0.29) and log(w/h) is symmetric about 0.
        var rrc = new RandomResizedCrop(32, minScale: 0.08, maxScale: 0.5);
        var boxes = Enumerable.Range(0, 4000).Select(s => rrc.SampleBox(1000, 1000, SampleRandom.For(1, 2, s))).ToArray();
        Assert.Equal(0.29, boxes.Average(b => b.Height * b.Width / 1e6), 2);
        Assert.InRange(boxes.Average(b => Math.Log((double)b.Width / b.Height)), -0.01, 0.01);
        Assert.InRange(boxes.Max(b => (double)b.Width / b.Height), 1.3, 4.0 / 3 + 0.01);
    }

    [Fact]
    public void Random_resized_crop_falls_back_to_the_centre_clamped_to_the_ratio()
    {
        var rrc = new RandomResizedCrop(16, minScale: 2, maxScale: 3); // never fits: always the fallback
        Assert.Equal((0, 75, 100, 133), rrc.SampleBox(100, 283, new SampleRandom(3))); // 283/100 > 4/3: width 133
        Assert.Equal((15, 0, 40, 30), rrc.SampleBox(70, 30, new SampleRandom(3)));     // 30/70 < 3/4: height 40
        Assert.Equal((0, 0, 50, 60), rrc.SampleBox(50, 60, new SampleRandom(3)));
        var output = rrc.Apply(Coordinates(3, 50, 60), new SampleRandom(3));
        Assert.Equal((3, 16, 16), (output.Channels, output.Height, output.Width));
    }

    [Fact]
    public void Resize_keeps_constants_and_ramps_and_center_crop_uses_the_0875_geometry()
    {
        var constant = new ImageF(Enumerable.Repeat(0.3f, 3 * 40 * 50).ToArray(), 3, 40, 50);
        var eval = new ResizeCenterCrop(16); // resize short side to floor(16/0.875) = 18 then crop 16
        Assert.Equal(18, eval.ResizeTo);
        var cropped = eval.Apply(constant, new SampleRandom(0));
        Assert.Equal((3, 16, 16), (cropped.Channels, cropped.Height, cropped.Width));
        Assert.All(cropped.Data, v => Assert.Equal(0.3f, v, 5));
        Assert.Equal((18, 22), new ResizeShortSide(18).TargetSize(40, 50)); // int(18 * 50 / 40)
        Assert.Equal((3, 1), CenterCrop.Offset(22, 18, 16, 16)); // (22-16)/2, (18-16)/2
        Assert.Equal((4, 2), CenterCrop.Offset(23, 19, 16, 16)); // Python round(3.5) = 4, round(1.5) = 2

        // Upsampling a horizontal ramp 2x with bilinear: interior output pixel centres map back linearly.
        var ramp = new ImageF(1, 1, 8);
        for (int x = 0; x < 8; x++) ramp[0, 0, x] = x / 10f;
        var up = Resampler.Resize(ramp, 1, 16, ResampleFilter.Bilinear);
        for (int x = 2; x < 14; x++) Assert.Equal(((x + 0.5) / 2 - 0.5) / 10, up[0, 0, x], 5);
    }

    [Fact]
    public void Ten_crop_takes_corners_centre_and_mirrors()
    {
        var views = new TenCrop(3).Apply(Coordinates(1, 5, 6));
        Assert.Equal(10, views.Length);
        float Origin(ImageF v) => v[0, 0, 0];
        Assert.Equal([0f, 3f, 200f, 203f, 102f], views.Take(5).Select(Origin)); // centre top = round(1), left = round(1.5) = 2
        // Mirrored image: column x holds original column 5 - x, so its top-left crop starts with column 5.
        Assert.Equal([5f, 2f, 205f, 202f, 103f], views.Skip(5).Select(Origin));
        Assert.All(views, v => Assert.Equal((3, 3), (v.Height, v.Width)));
    }

    [Fact]
    public void To_channels_replicates_grey_and_computes_luma()
    {
        var grey = new ImageF([0.2f, 0.4f], 1, 1, 2);
        var rgb = new ToChannels(3).Apply(grey, new SampleRandom(0));
        Assert.Equal([0.2f, 0.4f, 0.2f, 0.4f, 0.2f, 0.4f], rgb.Data);
        var back = new ToChannels(1).Apply(new ImageF([1f, 0f, 0f, 1f, 0f, 0f], 3, 1, 2), new SampleRandom(0));
        Assert.Equal(0.299f, back.Data[0], 5);
        Assert.Equal(0.587f, back.Data[1], 5);
    }

    [Fact]
    public void Color_jitter_brightness_scales_every_pixel_by_one_factor_in_range()
    {
        var jitter = new ColorJitter(brightness: 0.4f, contrast: 0, saturation: 0);
        for (int s = 0; s < 50; s++)
        {
            var image = new ImageF([0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f], 3, 1, 2);
            jitter.Apply(image, new SampleRandom((ulong)s));
            float factor = image.Data[0] / 0.1f;
            Assert.InRange(factor, 0.6f, 1.4f);
            for (int i = 0; i < 6; i++) Assert.Equal(Math.Min(1f, (i + 1) * 0.1f * factor), image.Data[i], 4);
        }
    }

    [Fact]
    public void Saturation_zero_gives_grey_and_hue_shift_rotates_primaries()
    {
        var image = new ImageF([1f, 0f, 0f], 3, 1, 1);
        PixelOps.Saturation(image, 0f);
        Assert.All(image.Data, v => Assert.Equal(0.299f, v, 5));
        var red = new ImageF([1f, 0f, 0f], 3, 1, 1);
        PixelOps.Hue(red, 1f / 3); // red -> green
        Assert.Equal([0f, 1f, 0f], red.Data.Select(v => MathF.Round(v, 4)));
    }

    [Fact]
    public void Rand_augment_ops_follow_timm_level_mappings()
    {
        var ra = new RandAugment(fill: [0.5f]);
        float[] values = [0f, 100 / 255f, 200 / 255f, 1f];
        ImageF Row() => new((float[])values.Clone(), 1, 1, 4);
        float[] Bytes(ImageF i) => i.Data.Select(v => MathF.Round(v * 255)).ToArray();
        Assert.Equal([255f, 155f, 55f, 0f], Bytes(ra.ApplyOp("Invert", Row(), 0.9, new SampleRandom(0))));
        Assert.Equal([0f, 96f, 192f, 224f], Bytes(ra.ApplyOp("Posterize", Row(), 0.9, new SampleRandom(0)))); // keep 3 bits
        Assert.Equal([0f, 100f, 200f, 0f], Bytes(ra.ApplyOp("Solarize", Row(), 0.9, new SampleRandom(0))));   // threshold 230
        Assert.Equal([99f, 199f, 200f, 255f], Bytes(ra.ApplyOp("SolarizeAdd", Row(), 0.9, new SampleRandom(0)))); // +99 below 128
        Assert.Equal([0f, 127f, 255f, 255f], Bytes(ra.ApplyOp("AutoContrast", new ImageF([0f, 100 / 255f, 200 / 255f, 200 / 255f], 1, 1, 4), 0.9, new SampleRandom(0))));
        var brighter = ra.ApplyOp("Brightness", Row(), 0.9, new SampleRandom(0)); // factor 1.72
        Assert.Equal(100 / 255f * 1.72f, brighter.Data[1], 4);

        // Rotate by the maximum level (30 degrees) keeps the centre and fills corners.
        var square = new ImageF(Enumerable.Repeat(0.9f, 9 * 9).ToArray(), 1, 9, 9);
        var rotated = ra.ApplyOp("Rotate", square, 1.0, new SampleRandom(0));
        Assert.Equal(0.9f, rotated[0, 4, 4], 4);
        Assert.Equal(0.5f, rotated[0, 0, 0], 4);
        // Translate by 0.45 * width = 9 px to either side: column 10 of 20 moves to 1 or 19.
        var line = new ImageF(1, 1, 20);
        line[0, 0, 10] = 1f;
        var moved = ra.ApplyOp("TranslateXRel", line, 1.0, new SampleRandom(5));
        int at = Array.IndexOf(moved.Data, 1f);
        Assert.True(at is 1 or 19 && moved.Data.Count(v => v == 1f) == 1, $"moved to {at}");
    }

    [Fact]
    public void Rotate_ninety_degrees_is_counter_clockwise()
    {
        var image = Coordinates(1, 3, 3);
        var rotated = PixelOps.Rotate(image, 90, [0f]);
        Assert.Equal(image[0, 0, 2], rotated[0, 0, 0], 3); // top-right content moves to top-left
        Assert.Equal(image[0, 2, 2], rotated[0, 0, 2], 3);
    }

    [Fact]
    public void Rand_augment_is_deterministic_per_seed_and_changes_images()
    {
        var ra = new RandAugment();
        var source = Coordinates(3, 16, 16);
        for (int i = 0; i < source.Data.Length; i++) source.Data[i] = (source.Data[i] % 97) / 97f;
        int changed = 0;
        for (int s = 0; s < 30; s++)
        {
            var a = ra.Apply(source.Clone(), new SampleRandom((ulong)s));
            var b = ra.Apply(source.Clone(), new SampleRandom((ulong)s));
            Assert.Equal(a.Data, b.Data);
            Assert.All(a.Data, v => Assert.InRange(v, 0f, 1f));
            if (!a.Data.SequenceEqual(source.Data)) changed++;
        }
        Assert.InRange(changed, 15, 30); // each of 2 ops runs with p 0.5: ~75% changed
    }

    [Fact]
    public void Random_erasing_box_is_inside_and_filled()
    {
        var erasing = new RandomErasing(probability: 1, perPixelNoise: false);
        for (int s = 0; s < 100; s++)
        {
            var box = erasing.SampleBox(20, 30, new SampleRandom((ulong)s));
            Assert.NotNull(box);
            var (top, left, h, w) = box.Value;
            Assert.True(top >= 0 && left >= 0 && top + h <= 20 && left + w <= 30);
            Assert.InRange(h * w, 0.02 * 600 * 0.5, 600 / 3.0 * 1.5);
            var image = new ImageF(Enumerable.Repeat(5f, 2 * 600).ToArray(), 2, 20, 30);
            erasing.Apply(image, new SampleRandom((ulong)s));
            Assert.Equal(2 * h * w, image.Data.Count(v => v == 0f));
            Assert.Equal(0f, image[1, top, left]);
        }
        Assert.Null(new RandomErasing(probability: 0).SampleBox(20, 30, new SampleRandom(1)));
    }

    [Theory]   // the crop computed alone is the whole image resized, then cropped: same taps, same weights
    [InlineData(40, 50, 16)]
    [InlineData(300, 37, 224)]
    [InlineData(37, 300, 224)]
    [InlineData(375, 500, 224)]
    [InlineData(23, 19, 16)]     // centre offsets that round half to even
    [InlineData(256, 256, 224)]  // no resize: the crop alone
    [InlineData(5, 3, 28)]       // upsampling, the grey (Fashion-MNIST) path's size
    public void Resized_crop_equals_the_whole_resize_then_the_centre_crop(int height, int width, int size)
    {
        var random = new Random(height * 1000 + width);
        var image = new ImageF(Enumerable.Range(0, 3 * height * width).Select(_ => (float)random.NextDouble()).ToArray(), 3, height, width);
        foreach (var resize in new[] { new ResizeShortSide((int)Math.Floor(size / 0.875)), new ResizeShortSide(size, ResampleFilter.Bilinear) })
        {
            var whole = new CenterCrop(size).Apply(resize.Apply(image, new SampleRandom(0)), new SampleRandom(0));
            var alone = ResizeCenterCrop.ResizedCrop(image, resize, size);
            Assert.Equal((3, size, size), (alone.Channels, alone.Height, alone.Width));
            Assert.All(whole.Data.Zip(alone.Data), p => Assert.Equal(p.First, p.Second, 5e-6f));
        }
    }

    [Fact]
    public void A_thin_image_is_cropped_without_resizing_its_long_side()
    {
        // 1 x 400000: resized whole to 256 x 102,400,000 (about 300 GB of floats for 3 channels) before the crop took 224 x 224
        var thin = new ImageF(Enumerable.Repeat(0.7f, 3 * 400000).ToArray(), 3, 1, 400000);
        var cropped = new ResizeCenterCrop(224).Apply(thin, new SampleRandom(0));
        Assert.Equal((3, 224, 224), (cropped.Channels, cropped.Height, cropped.Width));
        Assert.All(cropped.Data, v => Assert.Equal(0.7f, v, 5));

        // 1 x 9,000,000: resized, its long side would be 2,304,000,000 px, past int: the crop is still the centre's
        int length = 9_000_000;
        var ramp = new ImageF(Enumerable.Range(0, length).Select(x => (float)x / length).ToArray(), 1, 1, length);
        var centre = new ResizeCenterCrop(224).Apply(ramp, new SampleRandom(0));
        Assert.Equal(0.5, centre.Data.Average(), 3);
    }

    [Fact]
    public void A_random_resized_crop_reads_nothing_outside_its_box_as_torchvision_crops_before_it_resizes()
    {
        var crop = new RandomResizedCrop(8);   // boxes of a 64 px image are mostly larger: the filter shrinks, its taps widen
        for (int seed = 0; seed < 20; seed++)
        {
            var (top, left, h, w) = crop.SampleBox(64, 64, new SampleRandom((ulong)seed));
            var image = new ImageF(Enumerable.Repeat(1f, 64 * 64).ToArray(), 1, 64, 64);
            for (int y = top; y < top + h; y++)
                for (int x = left; x < left + w; x++) image[0, y, x] = 0.2f;   // the box dark, all around it bright
            var output = crop.Apply(image, new SampleRandom((ulong)seed));
            Assert.All(output.Data, v => Assert.Equal(0.2f, v, 5));
            var cropped = Resampler.Resize(image.Crop(top, left, h, w), 8, 8, crop.Filter);   // torchvision's order, as a copy
            Assert.All(output.Data.Zip(cropped.Data), p => Assert.Equal(p.Second, p.First, 1e-6f));
        }
    }
}
