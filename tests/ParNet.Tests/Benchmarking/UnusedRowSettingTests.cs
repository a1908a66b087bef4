using ParNet.Benchmarking;
using ParNet.Models;
using ParNet.Runtime;
using ParNet.Tests.Cli;
using ParNet.Tests.Data;

namespace ParNet.Tests.Benchmarking;

/// <summary>A setting for rows that --only leaves out (`--only fused --pytorch-code DIR`) was taken and not used, without a
/// word (bench audit, session 41): refused, naming the rows it is for, before anything is built or timed.</summary>
public class UnusedRowSettingTests
{
    [Fact]
    public void The_cli_refuses_a_setting_whose_rows_only_leaves_out()
    {
        using var dir = new TempDirectory();
        var result = CliRunner.Run("bench", "--model", "parnet_s", "--only", "fused", "--stream-devices", "cpu,cpu,cpu", "--out", dir.File("out"));
        CliRunner.AssertUserError(result, "--stream-devices is for the fused-devices row, which the rows chosen (--only) leave out: " +
                                          "add it to --only, or leave --stream-devices out");
        result = CliRunner.Run("bench", "--model", "parnet_s", "--only", "fused,resnet18", "--pytorch-code", dir.Path, "--out", dir.File("out"));
        CliRunner.AssertUserError(result, "--pytorch-code is for the rows pytorch-unfused, pytorch-fused, pytorch-resnet18, pytorch-resnet34, " +
                                          "pytorch-resnet50, which the rows chosen (--only) leave out: add one to --only, or leave --pytorch-code out");
        Assert.False(Directory.Exists(dir.File("out")), "a refused run made its --out folder");
    }

    [Fact]
    public void The_library_names_its_own_settings_and_takes_them_with_one_of_their_rows()
    {
        var options = new InferenceBenchmarkOptions { Model = ModelRegistry.Get("parnet_s"), CudaDevices = [0, 0, 0], Only = new HashSet<string> { "fused" } };
        Assert.Equal("InferenceBenchmarkOptions.CudaDevices is for the onnx-cuda-streams row, which the rows chosen (InferenceBenchmarkOptions.Only) " +
                     "leave out: add it to InferenceBenchmarkOptions.Only, or leave InferenceBenchmarkOptions.CudaDevices out",
                     Assert.Throws<InvalidSettingException>(options.Validate).Message);
        (options with { CudaDevices = null, StreamDevices = ParNet.Inference.MultiDeviceStreamExecutor.ParseDevices("cpu,cpu,cpu"),
                        Only = new HashSet<string> { "fused", "fused-devices" } }).Validate();   // its row chosen: taken
        (options with { CudaDevices = null }).Validate();
    }

    /// <summary>Rows the model cannot produce (the fused and ONNX rows of a ResNet) were dropped without a word: an empty
    /// report, exit 0 (bench audit). Refused, naming the row and why, before anything is built.</summary>
    [Fact]
    public void A_row_the_model_cannot_produce_is_refused_by_name()
    {
        using var dir = new TempDirectory();
        var result = CliRunner.Run("bench", "--model", "resnet12_wide", "--only", "onnx-int8", "--out", dir.File("out"));
        CliRunner.AssertUserError(result, "parnet bench: the onnx-int8 row times the fused network, and resnet12_wide's ResNetBasic blocks do not fuse: leave it out of --only");
        Assert.False(Directory.Exists(dir.File("out")), "a refused run made its --out folder");
        var resnet = new InferenceBenchmarkOptions { Model = ModelRegistry.Get("resnet12_wide") };
        Assert.Equal(["fused", "fused-parallel", "onnx-sequential", "onnx-streams"],
                     new[] { "unfused", "fused", "fused-parallel", "onnx-sequential", "onnx-streams", "onnx-file", "resnet18" }.Where(k => resnet.WhyRowUnavailable(k) is not null));
        var parnet = new InferenceBenchmarkOptions { Model = ModelRegistry.Get("parnet_s") };
        Assert.Equal(ParNet.Runtime.WinogradConvolution.IsSupported, parnet.WhyRowUnavailable("fused-winograd") is null);
        Assert.Null(parnet.WhyRowUnavailable("onnx-int8"));
    }

    /// <summary>A batch or side whose forward pass cannot fit was found only after the batch-1 rounds (out of memory after
    /// 10 s at 5 GB), or ran for minutes towards the OOM killer (bench audit): refused first, with the numbers.</summary>
    [Fact]
    public void A_batch_or_side_that_cannot_fit_in_memory_is_refused_before_timing()
    {
        using var dir = new TempDirectory();
        var result = CliRunner.Run("bench", "--model", "parnet_cifar_small", "--only", "fused", "--batch-size", "100000000", "--out", dir.File("out"));
        CliRunner.AssertUserError(result, "parnet bench: --batch-size 100000000: a batch of 100,000,000 images takes at least ");
        Assert.Contains(" for parnet_cifar_small: ", result.Err);
        result = CliRunner.Run("bench", "--model", "parnet_cifar_small", "--only", "fused", "--image-size", "20000", "--batch-size", "1", "--out", dir.File("out"));
        CliRunner.AssertUserError(result, "parnet bench: --image-size 20000: a batch of 1 images takes at least ");
        Assert.Contains("not one image can fit", result.Err);
        Assert.False(Directory.Exists(dir.File("out")), "a refused run made its --out folder");
    }
}
