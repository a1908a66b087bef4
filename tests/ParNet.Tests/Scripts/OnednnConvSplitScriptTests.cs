using System.Diagnostics;

namespace ParNet.Tests.Scripts;

/// <summary>bench/onednn-conv-split.sh when the authors' side cannot run, with `dotnet` stubbed (our side "succeeds" at
/// once, printing train-bench's line).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]   // bash scripts, and shell-script stubs
public class OnednnConvSplitScriptTests
{
    static (int Code, string Stderr) Run(string code)
    {
        var temp = Directory.CreateTempSubdirectory("parnet-onednn-split-");
        try
        {
            string stubs = Directory.CreateDirectory(Path.Combine(temp.FullName, "stubs")).FullName;
            string stub = Path.Combine(stubs, "dotnet");
            File.WriteAllText(stub, "#!/bin/sh\necho 'parnet_cifar_small_w16 32x32 batch 128 fp32: 900 img/s (per step: forward 40 ms, backward 80 ms, update 3 ms)'\n");
            File.SetUnixFileMode(stub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            string cli = Path.Combine(temp.FullName, "parnet.dll");
            File.WriteAllText(cli, "");
            string folder = code == "" ? Directory.CreateDirectory(Path.Combine(temp.FullName, "not the authors' code")).FullName : code;

            var start = new ProcessStartInfo("bash") { WorkingDirectory = temp.FullName, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { Repository.Path("bench", "onednn-conv-split.sh"), "--pytorch-code", folder, "--rounds", "1", "--cli", cli })
                start.ArgumentList.Add(a);
            start.Environment["PATH"] = stubs + ":" + Environment.GetEnvironmentVariable("PATH");
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            Assert.True(process.WaitForExit(60_000), "onednn-conv-split.sh still running after 60 s");
            process.WaitForExit();
            _ = stdout.Result;
            return (process.ExitCode, stderr.Result);
        }
        finally { temp.Delete(recursive: true); }
    }

    /// <summary>A folder that is not there went on to run the rounds and exited 1 without a word.</summary>
    [Fact]
    public void A_pytorch_code_folder_that_is_not_there_is_refused_at_once()
    {
        var (code, stderr) = Run("/nonexistent/NonDeepNetworks");
        Assert.Equal(2, code);
        Assert.Equal("onednn-conv-split: --pytorch-code /nonexistent/NonDeepNetworks: no such folder\n", stderr);
    }

    /// <summary>When the authors' side failed (not their code in the folder), set -e ended the script silently (exit 1,
    /// nothing said) and the trap removed the log that held the reason.</summary>
    [SkippableFact]
    public void A_side_that_fails_is_named_with_the_end_of_its_log()
    {
        Skip.IfNot(PythonScript.DebianTorch(), "/usr/bin/python3 has no torch: the script stops before any side runs (the test below)");
        var (code, stderr) = Run("");   // an empty folder: no simplenet_impl in it
        Assert.Equal(1, code);
        var lines = stderr.Split('\n');
        Assert.StartsWith("round 1 at ", lines[0]);
        Assert.Equal("onednn-conv-split: round 1, the authors' blocks on PyTorch (bench/pytorch/pytorch_train_reference.py) failed; the end of its log:", lines[1]);
        Assert.Contains("no simplenet_impl/simpnet.py under it", string.Join("\n", lines.Skip(2)));   // the reference script's own reason
    }

    [SkippableFact]
    public void Without_torch_it_says_what_to_install_and_runs_nothing()
    {
        Skip.If(PythonScript.DebianTorch(), "/usr/bin/python3 has torch here: the case does not arise (the test above runs instead)");
        var (code, stderr) = Run("");
        Assert.Equal(2, code);
        Assert.Equal("onednn-conv-split: /usr/bin/python3 has no torch: apt-get install python3-torch\n", stderr);
    }
}
