// Suite "loader": throughput of the data pipeline (ParNet.Data.DataLoader) in images/s, consumer doing
// nothing but disposing each batch, so the numbers are the loader's ceiling.
//  1. Fashion-MNIST train split (60k, 28x28 grey), batch 128, the fashion-mnist recipe's augmentation (padded to 32,
//     its random shift: none since 2026-12-03, --padding 0) + flip + normalize.
//  2. An ImageNet-style folder of generated JPEGs (default 300, 3 classes, 375x500 .. 480x640, quality 90,
//     written with SkiaSharp into a temp dir), 224 px random-resized-crop + flip + RandAugment m9 mstd0.5
//     + normalize, batch 32; the JPEGs are decoded at reduced scale only above a 915 px short side (every crop keeps
//     its full-size resolution, as torchvision's; since 2026-12-06, before which they decoded down to 224 px): these
//     sizes decode whole.
// Each for 1 and 2 worker threads (2 epochs after a warm-up epoch), and the process RSS before and after
// several Fashion-MNIST epochs (native memory must not grow: tensors are disposed per batch).
// Last measured 2026-12-05 on a 2-core AMD EPYC family 26 model 2 (Zen 5), Debian 12, .NET 10, TorchSharp-cpu 0.107
// (RESULTS.md, "Data loader"); the header of each run names its own machine.
// Run: dotnet run -c Release --project bench/ParNet.Bench -- loader [--images N] [--epochs N]
using System.CommandLine;
using System.Diagnostics;
using ParNet.Data;
using ParNet.Models;
using ParNet.Training;
using SkiaSharp;

namespace ParNet.Bench;

public sealed class LoaderBenchmark : IBenchmark
{
    readonly Option<int> _images = SuiteOption.PositiveInt("--images", 300, "generated JPEGs of the folder rows (300: about 10 batches of 32)");
    readonly Option<int> _epochs = SuiteOption.PositiveInt("--epochs", 5, "Fashion-MNIST epochs of the RSS check (5: growth shows within a few)");

    public Command Build()
    {
        var command = new Command("loader", "data loader throughput (images/s) and memory").WithOptions(_images, _epochs);
        command.SetAction(parse => Run(parse.GetValue(_images), parse.GetValue(_epochs)));
        return command;
    }

    static int Run(int folderImages, int rssEpochs)
    {
        Console.WriteLine($"loader benchmark: {SuiteOption.Machine()}, .NET {Environment.Version}");
        Console.WriteLine("| data | transform | workers | images/s |");
        Console.WriteLine("|---|---|---|---|");
        string fashion = DataLocations.ResolveFashionMnist(null);
        // the pipeline `parnet train --recipe fashion-mnist` trains with (grey 28 px padded to 32, the recipe's shift, flip)
        var fashionModel = Recipes.FashionMnist.Network(numClasses: 10, inChannels: 1);
        var fashionAugmentation = Recipes.FashionMnist.Augmentation();
        foreach (int workers in new[] { 1, 2 })
        {
            var loader = DataPipelines.Train("fashion-mnist", fashion, fashionModel, fashionAugmentation, new LoaderOptions { BatchSize = 128, Workers = workers, Seed = 1 });
            Console.WriteLine($"| Fashion-MNIST train 60k, batch 128 | {FashionTransform(fashionAugmentation)} | {workers} | {Throughput(loader, 2):F0} |");
        }

        string root = Directory.CreateTempSubdirectory("parnet-loader-bench-").FullName;
        try
        {
            GenerateJpegFolder(Path.Combine(root, "train"), folderImages);
            foreach (int workers in new[] { 1, 2 })
            {
                var loader = DataPipelines.Train("folder", root, ModelRegistry.Get("parnet_s"), new AugmentationSettings { ImageSize = 224, RandAugment = true },
                                             new LoaderOptions { BatchSize = 32, Workers = workers, Seed = 1 });
                Console.WriteLine($"| {folderImages} generated JPEGs, batch 32 | RRC 224 + flip + RandAugment + normalize | {workers} | {Throughput(loader, 2):F1} |");
            }
        }
        finally { Directory.Delete(root, recursive: true); }

        var rssLoader = DataPipelines.Train("fashion-mnist", fashion, fashionModel, fashionAugmentation, new LoaderOptions { BatchSize = 128, Workers = 2 });
        Drain(rssLoader, 0);
        long before = Rss();
        Console.WriteLine();
        Console.Write($"RSS (MiB) after Fashion-MNIST epochs 1..{rssEpochs + 1}: {before >> 20}");
        long after = before;
        for (int e = 1; e <= rssEpochs; e++) { Drain(rssLoader, e); after = Rss(); Console.Write($", {after >> 20}"); }
        Console.WriteLine($" (growth {(after - before) >> 20} MiB; GC heap {GC.GetTotalMemory(false) >> 20} MiB)");
        return 0;
    }

    /// <summary>The Fashion-MNIST rows' transform as the recipe sets it: it said "crop (shift 2)" after the recipe dropped its
    /// random shift (CropPadding 0).</summary>
    public static string FashionTransform(AugmentationSettings a) =>
        $"pad to 32 + {(a.CropPadding > 0 ? $"crop (shift {a.CropPadding})" : "no shift")}{(a.Flip ? " + flip" : "")} + normalize";

    /// <summary>Images per second over <paramref name="epochs"/> epochs after one warm-up epoch.</summary>
    static double Throughput(DataLoader loader, int epochs)
    {
        Drain(loader, 0);
        var watch = Stopwatch.StartNew();
        long images = 0;
        for (int e = 1; e <= epochs; e++) images += Drain(loader, e);
        return images / watch.Elapsed.TotalSeconds;
    }

    static long Drain(DataLoader loader, int epoch)
    {
        long images = 0;
        foreach (var batch in loader.Epoch(epoch)) { images += batch.Count; batch.Dispose(); }
        return images;
    }

    static long Rss()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    /// <summary>Smooth gradients plus noise, so JPEG sizes and decode costs resemble photos more than flat fills.</summary>
    static void GenerateJpegFolder(string root, int count)
    {
        var random = new Random(42);
        for (int i = 0; i < count; i++)
        {
            string dir = Path.Combine(root, $"class{i % 3}");
            Directory.CreateDirectory(dir);
            int width = random.Next(500, 641), height = width * 3 / 4;
            using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Premul);
            var pixels = new byte[width * height * 4];
            for (int y = 0, p = 0; y < height; y++)
                for (int x = 0; x < width; x++, p += 4)
                {
                    pixels[p] = (byte)(x * 255 / width ^ random.Next(8));
                    pixels[p + 1] = (byte)(y * 255 / height ^ random.Next(8));
                    pixels[p + 2] = (byte)((x + y + i * 17) & 255);
                    pixels[p + 3] = 255;
                }
            System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
            using var image = SKImage.FromBitmap(bitmap);
            using var data = image.Encode(SKEncodedImageFormat.Jpeg, 90);
            File.WriteAllBytes(Path.Combine(dir, $"img{i:D4}.jpg"), data.ToArray());
        }
    }
}
