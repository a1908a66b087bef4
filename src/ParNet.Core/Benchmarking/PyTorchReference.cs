using ParNet.Models;
using ParNet.Runtime;

namespace ParNet.Benchmarking;

/// <summary>Where the PyTorch reference rows of `parnet bench` come from (all optional: no PyTorch, no rows).</summary>
public sealed record PyTorchReferenceOptions
{
    /// <summary>A checkout of the authors' repository (github.com/imankgoyal/NonDeepNetworks) or its imagenet folder.</summary>
    public string? AuthorsCode { get; init; }
    public string Python { get; init; } = DebianPython;
    /// <summary>Debian's PyTorch runs under /usr/bin/python3, not the python3 first on PATH (environment.md).</summary>
    public const string DebianPython = "/usr/bin/python3";
    /// <summary>parnet_official_tiny_silu.safetensors: prove first that <see cref="AuthorsCode"/> computes the fixture's logits.</summary>
    public string? Fixture { get; init; }
    /// <summary>The longest wait for any one answer of the child before it is taken for hung and the run fails with the end of
    /// its stderr (a hung child held bench and train-bench for ever: bench audit). 10 minutes: the slowest answers the default
    /// settings ask for (importing torch and building, fusing and checking the authors' ParNet-S; a train-bench round of 10
    /// steps at batch 128) take seconds to tens of seconds on 2 cores, PyTorch's autocast bfloat16 on a CPU without native
    /// bfloat16 several times that: two orders of magnitude to spare, and a hang still ends within minutes. train-bench also
    /// waits at least 50 times its own side's time for the same steps (for many steps or large batches).</summary>
    public TimeSpan AnswerDeadline { get; init; } = DefaultAnswerDeadline;
    public static readonly TimeSpan DefaultAnswerDeadline = TimeSpan.FromMinutes(10);

    /// <summary>
    /// <see cref="InvalidSettingException"/> for a <see cref="Python"/> that is not there, a <see cref="Fixture"/> that is no
    /// .safetensors file, and an <see cref="AuthorsCode"/> folder without the authors' simplenet_impl/simpnet.py (where
    /// bench/pytorch/pytorch_reference.py looks: DIR, DIR/timm/models, DIR/imagenet/timm/models): checked before anything is
    /// timed. They were found by the child after our side's rows had run, and ended bench and train-bench with a stack trace
    /// (audit of session 36).
    /// <see cref="InferenceBenchmarkOptions.Validate"/> calls it; train-bench's front end calls it itself (with
    /// <see cref="PyTorchTrainingReference.RequireComparable"/>).
    /// </summary>
    public void RequireUsable()
    {
        string code = Setting(nameof(AuthorsCode)), fixture = Setting(nameof(Fixture));
        RequirePython();
        if (Fixture is { } file && (!File.Exists(file) || !file.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)))
            throw new InvalidSettingException(fixture, n => $"{n.Given(fixture, file)}: {(File.Exists(file) ? "not a" : "no such")} .safetensors file " +
                                                           "(the fixture's weights, parnet_official_tiny_silu.safetensors)");
        if (AuthorsCode is { } folder && !Directory.Exists(folder))
            throw new InvalidSettingException(code, n => $"{n.Given(code, folder)}: no such folder (a checkout of github.com/imankgoyal/NonDeepNetworks)");
        if (AuthorsCode is { } dir && !new[] { dir, Path.Combine(dir, "timm", "models"), Path.Combine(dir, "imagenet", "timm", "models") }
                .Any(root => File.Exists(Path.Combine(root, "simplenet_impl", "simpnet.py"))))
            throw new InvalidSettingException(code, n => $"{n.Given(code, dir)}: no simplenet_impl/simpnet.py under it, nor under timm/models or " +
                                                         "imagenet/timm/models (a checkout of github.com/imankgoyal/NonDeepNetworks)");
    }

    /// <summary><see cref="InvalidSettingException"/> for a <see cref="Python"/> that is not there: what starting a child needs
    /// first (<see cref="PyTorchReference.Start"/>, <see cref="PyTorchTrainingReference.Compare"/>; the folder is the child's
    /// to search there, where tests hand it none).</summary>
    public void RequirePython()
    {
        string python = Setting(nameof(Python));
        if (!File.Exists(Python))
            throw new InvalidSettingException(python, n => $"{n.Given(python, Python)}: not found (Debian's PyTorch: apt-get install python3-torch python3-torchvision)");
        // an image or a script without execute permission: the OS refused to start it, with a stack trace (bench/export audit, session 41)
        const UnixFileMode anyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(Python) & anyExecute) == 0)
            throw new InvalidSettingException(python, n => $"{n.Given(python, Python)}: not an executable program (the Python with PyTorch, e.g. {DebianPython})");
    }

    static string Setting(string property) => SettingNames.Of(nameof(PyTorchReferenceOptions), property);
}

/// <summary>
/// The PyTorch rows of `parnet bench`: the authors' ParNet code unfused and fused (their own fuse_repvgg_block) and
/// torchvision's ResNets, with our sizes and threads, in a child process running bench/pytorch/pytorch_reference.py
/// (embedded in this assembly). The child builds the models and then runs one when asked (<see cref="PyTorchSession"/>),
/// so its rows take their turns in the same interleaved rounds as ours.
/// </summary>
public static class PyTorchReference
{
    public static readonly IReadOnlyList<string> Keys =
        ["pytorch-unfused", "pytorch-fused", "pytorch-resnet18", "pytorch-resnet34", "pytorch-resnet50"];

    /// <summary>Null when the authors' code can build the model; otherwise why not.</summary>
    public static string? WhyUnsupported(ModelConfig c) =>
        c.Layout != Layout.ImageNet || c.BlockType != BlockType.RepVggSse || !c.UseSse || c.Streams != 3
            ? $"{c.Name}: the authors' code builds only the ImageNet layout with 3 streams of RepVGG-SSE blocks"
            : c.InChannels != 3 ? $"{c.Name}: the authors' code takes 3 input channels" : null;

    /// <summary>"{what} (PyTorchReferenceOptions.AuthorsCode = DIR)": rows or a run of the authors' code asked for without it.</summary>
    internal static InvalidSettingException NeedsAuthorsCode(string what)
    {
        string authorsCode = SettingNames.Of(nameof(PyTorchReferenceOptions), nameof(PyTorchReferenceOptions.AuthorsCode));
        return new(authorsCode, names => $"{what} ({names.Given(authorsCode, "DIR")})");
    }

    /// <summary>Starts the child with the models of <paramref name="keys"/> built; it runs nothing until asked.</summary>
    public static PyTorchSession Start(PyTorchReferenceOptions p, InferenceBenchmarkOptions o, IReadOnlySet<string> keys)
    {
        p.RequirePython();
        var c = o.Model;
        bool wantsParNet = keys.Contains("pytorch-unfused") || keys.Contains("pytorch-fused");
        if (wantsParNet && WhyUnsupported(c) is string why) throw new ArgumentException($"PyTorch reference: {why}");
        if (wantsParNet && p.AuthorsCode is null) throw NeedsAuthorsCode("PyTorch reference: the ParNet rows need the authors' code");

        string folder = WriteScripts();
        var args = new List<string>
        {
            Path.Combine(folder, "pytorch_reference.py"), "--planes", string.Join(",", c.Planes.Append(c.FinalWidth)),
            "--num-blocks", string.Join(",", c.BlocksPerStream.Select(b => b + 1).Append(1)),   // theirs count the stream's first (init) block
            "--activation", c.Activation == ActivationKind.SiLU ? "silu" : "relu",
            "--in-channels", $"{c.InChannels}", "--classes", $"{c.NumClasses}",   // the ResNets' input and output, as ours (ResNetRows)
            "--image-size", $"{o.ImageSize}", "--threads", $"{o.Threads}", "--only", string.Join(",", Keys.Where(keys.Contains)),
        };
        if (p.AuthorsCode is not null) args.AddRange(["--code", p.AuthorsCode]);
        if (p.Fixture is not null) args.AddRange(["--fixture", p.Fixture]);
        return new PyTorchSession(p.Python, args, folder, p.AnswerDeadline);
    }

    /// <summary>Kills the PyTorch children of this process's benchmarks still running and deletes their scripts' folders:
    /// for a front end whose process ends on Ctrl-C or SIGTERM, which disposes nothing.</summary>
    public static void AbandonChildren() => LineProtocolChild.AbandonAll();

    /// <summary>The embedded scripts (bench/pytorch/*.py) written side by side into a new temporary folder, which the
    /// caller deletes: the training reference imports the inference reference's helpers.</summary>
    internal static string WriteScripts()
    {
        string folder = Directory.CreateTempSubdirectory("parnet-pytorch-").FullName;
        foreach (string name in new[] { "pytorch_reference.py", "pytorch_train_reference.py" })
        {
            using var stream = typeof(PyTorchReference).Assembly.GetManifestResourceStream("ParNet.Benchmarking." + name)
                ?? throw new InvalidOperationException($"{name} is not embedded in ParNet.Core");
            using var file = File.Create(Path.Combine(folder, name));
            stream.CopyTo(file);
        }
        return folder;
    }
}
