using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using ParNet.Models;
using ParNet.Tests.Data;
using ParNet.Tests.Models;
using ParNet.Training;
using ParNet.Weights;

namespace ParNet.Tests.Packaging;

/// <summary>
/// The NuGet package of the library (issue 12): packed from this build, then samples/FineTune, copied OUT of the
/// repository (so none of the repository's MSBuild files reach it), restored against the packed package and run. The
/// sample can only load libtorch on Debian 12 if the package's buildTransitive fix patched its output folder.
/// </summary>
public class PackageTests(PackageTests.PackedLibrary packed) : IClassFixture<PackageTests.PackedLibrary>
{
    /// <summary>The library packed once for both tests, under a version of its own (no stale cached package can stand in);
    /// that version leaves the NuGet cache again afterwards.</summary>
    public sealed class PackedLibrary : IDisposable
    {
        readonly TempDirectory _dir = new();
        public string Folder => _dir.File("packages");
        public string Version { get; }

        public PackedLibrary() => Version = Pack(Folder);

        /// <summary>samples/FineTune copied out of the repository and built against the package, once for the tests that run it.</summary>
        public string Sample => _sample ??= BuildSample();
        string? _sample;

        string BuildSample()
        {
            string sample = _dir.File("FineTune");
            Directory.CreateDirectory(sample);
            foreach (string file in new[] { "FineTune.csproj", "Program.cs" })
                File.Copy(Path.Combine(Repository.Root, "samples", "FineTune", file), Path.Combine(sample, file));
            var build = Dotnet(sample, "build", "-c", "Release", $"-p:ParNetPackageVersion={Version}",
                               $"-p:RestoreAdditionalProjectSources={Folder}");
            Assert.True(build.Code == 0, build.Output);
            return sample;
        }

        public void Dispose()
        {
            string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                           ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            string cached = Path.Combine(cache, "parnet.core", Version);
            if (Directory.Exists(cached)) Directory.Delete(cached, recursive: true);
            _dir.Dispose();
        }
    }

#if DEBUG
    const string Configuration = "Debug";
#else
    const string Configuration = "Release";
#endif

    [Fact]
    public void The_package_carries_the_library_its_docs_licence_readme_font_and_the_Debian_fix()
    {
        using var package = ZipFile.OpenRead(Path.Combine(packed.Folder, $"ParNet.Core.{packed.Version}.nupkg"));
        var entries = package.Entries.Select(e => e.FullName).ToHashSet();
        foreach (string expected in new[]
                 {
                     "lib/net10.0/ParNet.Core.dll", "lib/net10.0/ParNet.Core.xml", "LICENSE", "README.md",
                     "buildTransitive/ParNet.Core.targets", "buildTransitive/MarkGlibcxxVersionWeak.cs",
                     "contentFiles/any/any/Fonts/DejaVuSans.ttf",
                 })
            Assert.Contains(expected, entries);
        string nuspec = new StreamReader(package.GetEntry("ParNet.Core.nuspec")!.Open()).ReadToEnd();
        Assert.Contains("<license type=\"expression\">MIT</license>", nuspec);
        // the TorchSharp minor version whose native library build/ patches, not ">= 0.107.0" (packaging audit, session 48)
        Assert.Contains("<dependency id=\"TorchSharp-cpu\" version=\"[0.107.0, 0.108.0)\"", nuspec);
        Assert.True(File.Exists(Path.Combine(packed.Folder, $"ParNet.Core.{packed.Version}.snupkg")), "no symbols package beside the package");
        string docs = new StreamReader(package.GetEntry("lib/net10.0/ParNet.Core.xml")!.Open()).ReadToEnd();
        Assert.Contains("M:ParNet.Training.Pretrained.CreateModel(System.String,System.String,", docs);   // documented API
    }

    [Fact]
    public void The_sample_builds_against_the_packed_package_and_fine_tunes_through_the_public_API()
    {
        using var dir = new TempDirectory();
        string version = packed.Version, sample = packed.Sample, run = dir.File("run");

        // restored from the package, not a project reference
        using var assets = JsonDocument.Parse(File.ReadAllText(Path.Combine(sample, "obj", "project.assets.json")));
        var library = assets.RootElement.GetProperty("libraries").GetProperty($"ParNet.Core/{version}");
        Assert.Equal("package", library.GetProperty("type").GetString());

        // the authors' tiny network (RGB, 1000 classes) fine-tuned to grey Fashion-MNIST, 100 images per class
        string config = dir.File("tiny.json");
        File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());
        var result = Exec(Path.Combine(sample, "bin", "Release", "net10.0", "FineTune"), sample,
                          Fixtures.Path("parnet_official_tiny_silu.safetensors"), config, "100", "5", run);
        Assert.True(result.Code == 0, result.Output);
        Assert.Contains("epoch 5/5: train loss", result.Output);   // a line per epoch while it works
        var top1 = Regex.Match(result.Output, @"test top-1 ([0-9.]+)% on 1000 images");
        Assert.True(top1.Success, result.Output);
        // chance is 10%; these 5 epochs reach ~75% here, and a broken head, grey adaptation or optimizer stays far below
        Assert.True(double.Parse(top1.Groups[1].Value, CultureInfo.InvariantCulture) > 50, result.Output);

        using var tuned = ModelFactory.Create(OfficialParityTests.TinyConfig with { NumClasses = 10, InChannels = 1 });
        StateDict.Load(tuned, Path.Combine(run, "finetuned.safetensors"));   // strict: every key, every shape
        Assert.Equal([10L, 128L], tuned.state_dict()["head.fc.weight"].shape);
        // stored with what a loader needs: the network and the data set (class names, normalization); it stored neither
        var stored = ParNet.Export.ClassifierLoader.Stored(Path.Combine(run, "finetuned.safetensors"));
        Assert.Equal(tuned.Config.ToJson(), stored.Model!.ToJson());
        Assert.Equal("T-shirt/top", stored.CompletedFor(tuned.Config).ClassNames![0]);
    }

    [Fact]
    public void The_sample_answers_bad_arguments_in_one_line_and_keeps_an_earlier_run()
    {
        using var dir = new TempDirectory();
        string program = Path.Combine(packed.Sample, "bin", "Release", "net10.0", "FineTune"), weights = Fixtures.Path("parnet_official_tiny_silu.safetensors");
        string config = dir.File("tiny.json"), notWeights = dir.File("notes.pt"), run = dir.File("run");
        File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());
        File.WriteAllText(notWeights, "not a checkpoint");
        File.WriteAllText(dir.File("broken.json"), "{ \"Planes\": [8, ");
        string last = Path.Combine(run, "checkpoints", "last");   // an earlier run's checkpoint (its files are all it takes)
        Directory.CreateDirectory(last);
        foreach (string file in new[] { Checkpoint.StateFile, Checkpoint.WeightsFile, Checkpoint.OptimizerFile })
            File.WriteAllText(Path.Combine(last, file), "{}");
        // each was an unhandled exception with its stack trace (exit 134); the last replaced the earlier run's files
        foreach (var (args, message) in new (string[], string)[]
                 {
                     ([dir.File("missing.safetensors"), config], "pretrained weights file not found"),
                     ([notWeights, config], "not a PyTorch file"),
                     ([weights, "parnet_s"], "do not match the model parnet_s, nothing was loaded"),
                     ([weights, "parnet_q"], "unknown model 'parnet_q'"),
                     // a configuration file read by the library: a broken one named, a mistyped one not taken for a model's name
                     ([weights, dir.File("broken.json")], $"{dir.File("broken.json")}: not a valid model configuration"),
                     ([weights, "typo.json"], "model configuration not found: typo.json"),
                     ([weights, config, "many"], "PER_CLASS must be a positive whole number; got 'many'"),
                     ([weights, config, "10", "1", run], "holds a training run already"),
                 })
        {
            var result = Exec(program, dir.Path, args);
            Assert.True(result.Code == 2, result.Output);
            Assert.Contains(message, result.Output);
            Assert.Single(result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        Assert.Equal("{}", File.ReadAllText(Path.Combine(last, Checkpoint.StateFile)));
        Assert.False(File.Exists(Path.Combine(run, "metrics.csv")));
    }

    /// <summary>Packs the library as built for this test run, under a new version.</summary>
    static string Pack(string output)
    {
        string version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmssfff}.{Environment.ProcessId}";
        var pack = Dotnet(Repository.Root, "pack", Path.Combine("src", "ParNet.Core", "ParNet.Core.csproj"), "-c", Configuration,
                          "--no-build", "-o", output, $"-p:PackageVersion={version}");
        Assert.True(pack.Code == 0, pack.Output);
        return version;
    }

    static (int Code, string Output) Dotnet(string workingDirectory, params string[] args) => Exec("dotnet", workingDirectory, args);

    static (int Code, string Output) Exec(string program, string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo(program, args)
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        // the test host runs under `dotnet test`: its MSBuild variables must not steer the nested builds
        foreach (string name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(name);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(10))) process.Kill(entireProcessTree: true);
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }
}
