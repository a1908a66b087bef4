using System.CommandLine;
using ParNet.Benchmarking;

namespace ParNet.Cli;

/// <summary>
/// `--pytorch-code`, `--python` and (bench's) `--pytorch-fixture`, read once for bench and train-bench: the rule that the
/// others go with --pytorch-code was copied between the two commands, and the folder's checks are the library's
/// (<see cref="PyTorchReferenceOptions.RequireUsable"/>).
/// </summary>
public sealed class PyTorchCliOptions
{
    public Option<string?> Code { get; }
    public Option<string?> Python { get; } = CliOption.Text("--python", $"the Python with PyTorch, with --pytorch-code (default " +
        $"{PyTorchReferenceOptions.DebianPython}, where Debian's python3-torch lives)", "PATH");
    public Option<string?>? Fixture { get; }

    /// <param name="codeDescription">what --pytorch-code adds to the command</param>
    /// <param name="fixture">whether the command takes --pytorch-fixture (bench's authors' ParNet rows)</param>
    public PyTorchCliOptions(string codeDescription, bool fixture)
    {
        Code = CliOption.Text("--pytorch-code", codeDescription, "DIR");
        if (fixture)
            Fixture = CliOption.Text("--pytorch-fixture",
                "parnet_official_tiny_silu.safetensors: with --pytorch-code, check first that DIR reproduces the fixture's logits", "FILE");
    }

    public IEnumerable<Option> All => Fixture is null ? [Code, Python] : [Code, Python, Fixture];

    /// <summary>The reference asked for (null: none). Its folder, Python and fixture are checked by
    /// <see cref="PyTorchReferenceOptions.RequireUsable"/>, which bench's validation calls after the model's checks.</summary>
    public PyTorchReferenceOptions? Read(ParseResult parse)
    {
        string? code = parse.GetValue(Code), python = parse.GetValue(Python), fixture = Fixture is null ? null : parse.GetValue(Fixture);
        if ((python is not null || fixture is not null) && code is null)
            throw new UsageException($"{(Fixture is null ? "--python goes" : "--python and --pytorch-fixture go")} with --pytorch-code DIR");
        if (code is null) return null;
        return new PyTorchReferenceOptions { AuthorsCode = code, Python = python ?? PyTorchReferenceOptions.DebianPython, Fixture = fixture };
    }
}
