using System.IO.Compression;
using ParNet.Export;
using ParNet.Fusion;
using ParNet.Models;
using ParNet.Tests.Cli;
using ParNet.Tests.Data;
using ParNet.Tests.Models;
using ParNet.Weights;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ParNet.Tests.Weights;

/// <summary>
/// The authors' released checkpoints are timm training checkpoints (.pth.tar). The fixture was written in exactly that
/// format by their train.py under PyTorch 1.13; its logits (of state_dict and of state_dict_ema) come from their code.
/// </summary>
public class TimmCheckpointTests
{
    static readonly string Checkpoint = Fixtures.Path("parnet_official_tiny_silu.timm.pth.tar");

    [Theory]
    [InlineData(CheckpointWeights.Model, "logits", false)]
    [InlineData(CheckpointWeights.Ema, "logits_ema", false)]
    [InlineData(CheckpointWeights.Model, "logits", true)]
    [InlineData(CheckpointWeights.Ema, "logits_ema", true)]
    public void The_released_checkpoint_format_gives_the_authors_logits(CheckpointWeights pick, string expected, bool fuse)
    {
        var io = StateDict.Read(Fixtures.Path("parnet_official_tiny_silu.timm.io.safetensors"));
        var (model, info) = ClassifierLoader.Load(Checkpoint, OfficialParityTests.TinyConfig, fuse ? NetworkForm.Fused : NetworkForm.AsStored, pick);
        using (model)
        using (no_grad())
        {
            Assert.Equal(fuse, info.Fused);
            var logits = model.call(io["input"]);
            double error = OfficialParityTests.RelativeL2(logits, io[expected]);
            Assert.True(error < 1e-5, $"{pick} fused={fuse}: relative L2 {error:E2}");
            string other = expected == "logits" ? "logits_ema" : "logits";
            Assert.True(OfficialParityTests.RelativeL2(logits, io[other]) > 1e-3, "the model and EMA weights must differ, or this test checks nothing");
        }
    }

    [Fact]
    public void Parnet_forward_reads_the_checkpoint_with_the_authors_yaml_config()
    {
        using var dir = new TempDirectory();
        // their file format; a flat `- swish` is what their code reads as SiLU (the fixture's network)
        string yaml = dir.File("tiny.yaml");
        File.WriteAllText(yaml, "additional_branches:\n- swish\ndropout_lin: 0.0\nnum_blocks:\n- 5\n- 6\n- 6\n- 1\nplanes:\n- 16\n- 32\n- 64\n- 128\n");
        string output = dir.File("logits.safetensors");
        var io = Fixtures.Path("parnet_official_tiny_silu.timm.io.safetensors");
        CliRunner.AssertUserError(CliRunner.Run("forward", "--weights", Checkpoint, "--config", yaml, "--threads", "0", "--input", io, "--output", output),
                                  "parnet forward: --threads 0: must be >= 1");
        var result = CliRunner.Run("forward", "--weights", Checkpoint, "--config", yaml, "--ema", "--threads", "1", "--input", io, "--output", output);
        Assert.True(result.Code == 0, result.Err);
        var expected = StateDict.Read(io)["logits_ema"];
        Assert.True(OfficialParityTests.RelativeL2(StateDict.Read(output)["logits"], expected) < 1e-5);
    }

    [Fact]
    public void The_yaml_file_named_by_the_checkpoints_args_is_found_beside_it()
    {
        // the fixture's args.model_cfg is "./models/tiny.yaml", as their train.py was run
        using var dir = new TempDirectory();
        string checkpoint = dir.File("tiny.pth.tar"), io = Fixtures.Path("parnet_official_tiny_silu.timm.io.safetensors");
        File.Copy(Checkpoint, checkpoint);
        var missing = CliRunner.Run("forward", "--weights", checkpoint, "--input", io, "--output", dir.File("y0.safetensors"));
        CliRunner.AssertUserError(missing, "its args.model_cfg names ./models/tiny.yaml, not found beside it");

        Directory.CreateDirectory(dir.File("models"));
        File.WriteAllText(Path.Combine(dir.Path, "models", "tiny.yaml"),
            "additional_branches:\n- swish\ndropout_lin: 0.0\nnum_blocks: [5, 6, 6, 1]\nplanes: [16, 32, 64, 128]\n");
        var found = CliRunner.Run("forward", "--weights", checkpoint, "--input", io, "--output", dir.File("y.safetensors"));
        Assert.True(found.Code == 0, found.Err);
        Assert.True(OfficialParityTests.RelativeL2(StateDict.Read(dir.File("y.safetensors"))["logits"], StateDict.Read(io)["logits"]) < 1e-5);
    }

    /// <summary>A tiny.yaml of another network in the working directory configured the checkpoint's weights without a word
    /// (ReLU for SiLU weights: logits off by more than their size, exit 0; an audit of session 47). Only the checkpoint's
    /// folder and its parent are searched, and convert names the file that gave the model.</summary>
    [Fact]
    public void A_yaml_file_in_the_working_directory_is_not_the_checkpoints_and_convert_names_the_one_it_used()
    {
        using var dir = new TempDirectory();
        string work = dir.File("work"), store = dir.File("store");
        Directory.CreateDirectory(work);
        Directory.CreateDirectory(store);
        string checkpoint = Path.Combine(store, "tiny.pth.tar");
        File.Copy(Checkpoint, checkpoint);
        File.WriteAllText(Path.Combine(work, "tiny.yaml"), "num_blocks: [5, 6, 6, 1]\nplanes: [16, 32, 64, 128]\n");   // ReLU: not the fixture's network
        var stray = RunRecordTests.Parnet(work, "convert", "--weights", checkpoint, "--out", "y.safetensors");
        CliRunner.AssertUserError(stray, "its args.model_cfg names ./models/tiny.yaml, not found beside it");
        Assert.False(File.Exists(Path.Combine(work, "y.safetensors")));

        string yaml = Path.Combine(store, "tiny.yaml");
        File.WriteAllText(yaml, "additional_branches:\n- swish\ndropout_lin: 0.0\nnum_blocks: [5, 6, 6, 1]\nplanes: [16, 32, 64, 128]\n");
        var converted = RunRecordTests.Parnet(work, "convert", "--weights", checkpoint, "--out", "y.safetensors");
        Assert.True(converted.Code == 0, converted.Err);
        Assert.Equal($"converted tiny (622,008 parameters, the model of {yaml}); wrote y.safetensors", converted.Out.Trim());
        Assert.Equal("", converted.Err);
        // a stale sidecar beside the output is read before what the new file stores: said
        File.WriteAllText(Path.Combine(work, "y.json"), "{\"dataset\": \"cifar10\"}");
        var besideSidecar = RunRecordTests.Parnet(work, "convert", "--weights", checkpoint, "--out", "y.safetensors");
        Assert.True(besideSidecar.Code == 0, besideSidecar.Err);
        Assert.Equal("parnet convert: warning: y.json beside the file written is read before what the file stores (a sidecar comes first): " +
                     "move it away unless it describes these weights", besideSidecar.Err.Trim());
    }

    [Fact]
    public void Ema_on_a_file_without_EMA_weights_is_one_line()
    {
        using var dir = new TempDirectory();
        string yaml = dir.File("tiny.json");
        File.WriteAllText(yaml, OfficialParityTests.TinyConfig.ToJson());
        var plain = CliRunner.Run("forward", "--weights", Fixtures.Path("parnet_official_tiny_silu.pt"), "--config", yaml, "--ema",
            "--input", Fixtures.Path("parnet_official_tiny_silu.io.safetensors"), "--output", dir.File("y.safetensors"));
        CliRunner.AssertUserError(plain, "EMA weights asked for: a training checkpoint holds them (timm's state_dict_ema, torchvision's model_ema); this file is a plain state dict");
        var safetensors = CliRunner.Run("fuse", "--weights", Fixtures.Path("parnet_official_tiny_silu.safetensors"), "--config", yaml, "--ema",
            "--out", dir.File("f.safetensors"));
        CliRunner.AssertUserError(safetensors, "EMA weights asked for: a timm training checkpoint (.pth.tar) holds them beside the model's, a .safetensors file holds one set of weights");
        Assert.False(File.Exists(dir.File("f.safetensors")));
    }

    /// <summary>The authors' torch.save file (written by PyTorch) with its state dict's keys renamed in the pickle itself:
    /// each key is a BINUNICODE opcode ('X', a 4-byte little-endian length, UTF-8), rewritten with the new name and length
    /// (protocol 2 has no frames, so nothing else in the pickle counts bytes); every other zip entry is copied as it is.</summary>
    static void WriteRenamedPt(string path, Func<string, string> rename)
    {
        var keys = StateDict.Read(Fixtures.Path("parnet_official_tiny_silu.safetensors")).Keys.ToHashSet();
        using var source = ZipFile.OpenRead(Fixtures.Path("parnet_official_tiny_silu.pt"));
        using var target = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var entry in source.Entries)
        {
            using var input = entry.Open();
            var bytes = new MemoryStream();
            input.CopyTo(bytes);
            byte[] data = bytes.ToArray();
            if (entry.Name == "data.pkl")
            {
                Assert.Equal([0x80, 0x02], data[..2]);   // protocol 2
                foreach (var key in keys)
                {
                    byte[] Opcode(string s) => [(byte)'X', .. BitConverter.GetBytes(System.Text.Encoding.UTF8.GetByteCount(s)), .. System.Text.Encoding.UTF8.GetBytes(s)];
                    byte[] old = Opcode(key);
                    int at = data.AsSpan().IndexOf(old);
                    Assert.True(at >= 0 && data.AsSpan(at + 1).IndexOf(old) < 0, $"{key}: not exactly once in the pickle");
                    data = [.. data[..at], .. Opcode(rename(key)), .. data[(at + old.Length)..]];
                }
            }
            using var output = target.CreateEntry(entry.FullName, CompressionLevel.NoCompression).Open();
            output.Write(data);
        }
    }

    [Fact]
    public void Keys_saved_under_DistributedDataParallel_lose_their_module_prefix()
    {
        using var dir = new TempDirectory();
        var original = StateDict.Read(Fixtures.Path("parnet_official_tiny_silu.safetensors"));
        string ddp = dir.File("ddp.pt");
        WriteRenamedPt(ddp, key => "module." + key);
        var read = StateDict.Read(ddp);
        Assert.Equal(original.Keys.Order(StringComparer.Ordinal), read.Keys.Order(StringComparer.Ordinal));
        Assert.All(read, kv =>
        {
            Assert.Equal(original[kv.Key].shape, kv.Value.shape);
            Assert.True(kv.Value.eq(original[kv.Key]).all().item<bool>(), kv.Key);
        });

        // only a prefix that every key has is DDP's: a state dict with one key under "module." keeps its names
        string one = dir.File("one.pt");
        WriteRenamedPt(one, key => key == "head.fc.weight" ? "module.head.fc.weight" : key);
        var mixed = StateDict.Read(one);
        Assert.Contains("module.head.fc.weight", mixed.Keys);
        Assert.DoesNotContain("head.fc.weight", mixed.Keys);
        Assert.Equal(original.Count, mixed.Count);
    }

    /// <summary>A torch.save zip whose pickle calls os.system when Python unpickles it.</summary>
    static void WriteMaliciousCheckpoint(string path, string marker)
    {
        var pickle = new List<byte> { 0x80, 0x02, (byte)'c' };
        pickle.AddRange("os\nsystem\n"u8.ToArray());
        var command = System.Text.Encoding.UTF8.GetBytes($"touch {marker}");
        pickle.Add((byte)'X');
        pickle.AddRange(BitConverter.GetBytes(command.Length));
        pickle.AddRange(command);
        pickle.AddRange([0x85, (byte)'R', (byte)'.']);   // TUPLE1, REDUCE, STOP: os.system("touch ...")
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        using (var s = zip.CreateEntry("archive/data.pkl", CompressionLevel.NoCompression).Open()) s.Write(pickle.ToArray());
        using (var s = zip.CreateEntry("archive/version", CompressionLevel.NoCompression).Open()) s.Write("3\n"u8);
    }

    /// <summary>TorchSharp said "saved using the old PyTorch format ... re-save using the new PyTorch format" of any file that
    /// is not a zip archive, random bytes too (walk C, session 28).</summary>
    [Theory]
    [InlineData(new byte[] { 0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e }, "PyTorch's legacy format (torch.save before 1.6")]   // torch 1.13's torch.save(..., _use_new_zipfile_serialization=False) starts so
    [InlineData(new byte[] { 0x80, 0x04, 0x95, 0x05, 0x00 }, "not a PyTorch file (torch.save writes a zip archive")]   // a plain pickle (pickle.dump)
    [InlineData(new byte[] { 0x80, 0x04, 0x95, 0x1a, 0, 0, 0, 0, 0, 0, 0, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e }, "PyTorch's legacy format")]   // pickle_protocol=4: a frame first
    [InlineData(new byte[] { (byte)'h', (byte)'e', (byte)'l', (byte)'l', (byte)'o' }, "not a PyTorch file (torch.save writes a zip archive")]
    [InlineData(new byte[] { 0x50 }, "not a PyTorch file (torch.save writes a zip archive")]
    public void A_file_that_is_not_a_zip_archive_is_said_to_be_what_it_is(byte[] bytes, string message)
    {
        using var dir = new TempDirectory();
        string path = dir.File("bad.pth.tar");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => StateDict.Read(path));
        Assert.StartsWith($"{path}: cannot read weights: {message}", e.Message);
        Assert.DoesNotContain("re-save", e.Message);
    }

    [Fact]
    public void A_pickle_that_asks_for_code_execution_is_refused_and_nothing_runs()
    {
        using var dir = new TempDirectory();
        string path = dir.File("evil.pth.tar"), marker = dir.File("pwned");
        WriteMaliciousCheckpoint(path, marker);
        var e = Assert.Throws<InvalidDataException>(() => StateDict.Read(path));
        Assert.StartsWith(path, e.Message);
        Assert.EndsWith("its pickle asks to call os.system, which weights never need; refused, nothing was run", e.Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void The_released_yaml_files_map_onto_our_configuration_as_their_code_reads_them()
    {
        // imagenet/models/planes_92_192_384_1280_num_blocks_5_6_6_1_sebv_13.yaml, as released
        var s92 = AuthorsYamlConfig.Parse("additional_branches:\n- - swish\ndropout_lin: 0.0\nnum_blocks:\n- 5\n- 6\n- 6\n- 1\nplanes:\n- 92\n- 192\n- 384\n- 1280\n", "s92");
        var registry = ModelRegistry.Get("parnet_s92");
        Assert.Equal(registry.Planes, s92.Planes);
        Assert.Equal(registry.BlocksPerStream, s92.BlocksPerStream);
        Assert.Equal(registry.FinalWidth, s92.FinalWidth);
        Assert.Equal(ActivationKind.ReLU, s92.Activation);   // [[swish]]: their `'swish' in additional_branches` is false
        Assert.Equal(s92.Activation, registry.Activation);   // the registered variant of those weights runs them as trained
        var l = AuthorsYamlConfig.Parse("additional_branches:\n- - swish\ndropout_lin: 0.1\nnum_blocks: [5, 6, 6, 1]\nplanes: [160, 320, 640, 2560]\n" +
                                        "weights: \"models/x.pth.tar\"\nuse_ema: True\n", "l");
        Assert.Equal(0.1, l.HeadDropout);
        Assert.Equal(ModelRegistry.Get("parnet_l").Planes, l.Planes);
    }

    [Theory]
    [InlineData("planes: [92, 192, 384, 1280]\n", "not one of the authors' model files (planes and num_blocks are required)")]
    [InlineData("planes: [92, 192, 384, 1280]\nnum_blocks: [5, 6, 6, 2]\n", "must end with 1")]
    [InlineData("planes: [92, 192, 384, 1280]\nnum_blocks: [5, 6, 6, 1]\nwidth_mult: 2\n", "unknown key 'width_mult'")]
    [InlineData("planes: [92, x, 384, 1280]\nnum_blocks: [5, 6, 6, 1]\n", "'x' is not a positive integer")]
    [InlineData("planes: [92, 192\n", "not one of the authors' model files")]
    [InlineData("[planes]: [92, 192, 384, 1280]\nnum_blocks: [5, 6, 6, 1]\n", "every key must be a name")]
    // found by fuzz/run.sh (target yaml): YamlDotNet's scanner threw InvalidOperationException on the NUL in a flow key
    [InlineData("additional_branches:\n- - swish\ndropout_lin: 0.0\n[um_blockd\0\n\u000e 5\n-s:\n- - swish\n", "not valid YAML")]
    public void Bad_yaml_files_are_one_line_naming_the_file(string yaml, string message)
    {
        using var dir = new TempDirectory();
        string path = dir.File("bad.yaml");
        File.WriteAllText(path, yaml);
        var result = CliRunner.Run("info", "--config", path);
        CliRunner.AssertUserError(result, message);
        Assert.Contains(path, result.Err);
    }

    [Fact]
    public void Convert_writes_safetensors_that_carry_their_configuration_and_give_the_same_logits()
    {
        using var dir = new TempDirectory();
        string config = dir.File("tiny.json"), converted = dir.File("tiny-ema.safetensors"), fused = dir.File("tiny-fused.safetensors");
        File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());
        var result = CliRunner.Run("convert", "--weights", Checkpoint, "--config", config, "--ema", "--out", converted);
        Assert.True(result.Code == 0, result.Err);
        Assert.Equal(OfficialParityTests.TinyConfig.ToJson(), DeploymentInfo.ReadSafetensorsMetadata(converted)[ParNet.Weights.WeightsMetadata.KeyConfig]);

        // no --config from here on: the configuration comes from the files' metadata
        Assert.Equal(0, CliRunner.Run("fuse", "--weights", converted, "--out", fused).Code);
        string io = Fixtures.Path("parnet_official_tiny_silu.timm.io.safetensors");
        var expected = StateDict.Read(io)["logits_ema"];
        foreach (var weights in new[] { converted, fused })
        {
            string output = dir.File(Path.GetFileNameWithoutExtension(weights) + ".logits.safetensors");
            var forward = CliRunner.Run("forward", "--weights", weights, "--input", io, "--output", output);
            Assert.True(forward.Code == 0, forward.Err);
            Assert.True(OfficialParityTests.RelativeL2(StateDict.Read(output)["logits"], expected) < 1e-5, weights);
        }
        Assert.Equal("true", DeploymentInfo.ReadSafetensorsMetadata(fused)[ParNet.Weights.WeightsMetadata.KeyFused]);

        // --dataset stores the data set with the converted weights, as export does: predict and serve need no --dataset then
        string named = dir.File("tiny-imagenet.safetensors");
        result = CliRunner.Run("convert", "--weights", Checkpoint, "--config", config, "--dataset", "imagenet", "--out", named);
        Assert.True(result.Code == 0, result.Err);
        var stored = DeploymentInfo.ForWeights(named);
        Assert.Equal("imagenet", stored.Dataset);
        Assert.Equal(ParNet.Data.DatasetInfo.ImageNet.ClassNames, stored.Completed().ClassNames);
        Assert.False(stored.Completed().StatisticsGuessed);   // without --dataset, a guess (ImageNet statistics assumed)
        CliRunner.AssertUserError(CliRunner.Run("convert", "--weights", Checkpoint, "--config", config, "--dataset", "fashion-mnist", "--out", dir.File("x.safetensors")),
                                  "parnet convert: --dataset fashion-mnist: 10 class names (data set fashion-mnist) for the 1000 classes of parnet_official_tiny_silu");
        // in place it replaced its input (with --ema, the model weights by the EMA ones), exit 0
        byte[] before = File.ReadAllBytes(named);
        CliRunner.AssertUserError(CliRunner.Run("convert", "--weights", named, "--dataset", "imagenet", "--out", named),
                                  $"--out {named} is the --weights file, which writing it would replace; give another path");
        Assert.Equal(before, File.ReadAllBytes(named));
    }

    /// <summary>fuse had no --dataset: the authors' checkpoint fused straight from its .pth.tar stored none, and predict and
    /// serve needed --dataset at every start (note 41).</summary>
    [Fact]
    public void Fuse_stores_the_data_set_given()
    {
        using var dir = new TempDirectory();
        string config = dir.File("tiny.json"), fused = dir.File("tiny-fused.safetensors");
        File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());
        var result = CliRunner.Run("fuse", "--weights", Checkpoint, "--config", config, "--dataset", "imagenet", "--out", fused);
        Assert.True(result.Code == 0, result.Err);
        var stored = DeploymentInfo.ForWeights(fused);
        Assert.Equal(("imagenet", true), (stored.Dataset, stored.Fused));
        Assert.False(stored.Completed().StatisticsGuessed);
        var refused = CliRunner.Run("fuse", "--weights", Checkpoint, "--config", config, "--dataset", "fashion-mnist", "--out", dir.File("x.safetensors"));
        Assert.Equal((2, "parnet fuse: --dataset fashion-mnist: 10 class names (data set fashion-mnist) for the 1000 classes of parnet_official_tiny_silu\n"),
                     (refused.Code, refused.Err.ReplaceLineEndings("\n")));
        Assert.False(File.Exists(dir.File("x.safetensors")));
    }

    [Fact]
    public void Convert_refuses_weights_that_do_not_fit_the_configuration_and_writes_nothing()
    {
        using var dir = new TempDirectory();
        string config = dir.File("wrong.json"), output = dir.File("out.safetensors");
        File.WriteAllText(config, (OfficialParityTests.TinyConfig with { NumClasses = 10 }).ToJson());
        var result = CliRunner.Run("convert", "--weights", Checkpoint, "--config", config, "--out", output);
        CliRunner.AssertUserError(result, "head.fc.weight");
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void The_ImageNet_class_names_ship_with_the_library_in_synset_order()
    {
        var names = ParNet.Data.DatasetInfo.ImageNet.ClassNames;
        Assert.Equal(1000, names.Count);
        Assert.Equal(("tench", "goldfish", "great white shark"), (names[0], names[1], names[2]));   // n01440764, n01443537, n01484850
        Assert.Equal("golden retriever", names[207]);
        Assert.Equal("toilet tissue", names[999]);                                                  // n15075141
        Assert.Equal(names, DeploymentInfo.KnownDataset("imagenet")!.ClassNames);
    }

    [Fact]
    public void Predict_names_ImageNet_classes_and_refuses_a_dataset_of_another_size()
    {
        using var dir = new TempDirectory();
        string config = dir.File("tiny.json"), image = dir.File("x.png");
        File.WriteAllText(config, OfficialParityTests.TinyConfig.ToJson());
        File.WriteAllBytes(image, TempDirectory.EncodeImage(64, 64, (x, y) => ((byte)(x * 4), (byte)(y * 4), 80), SkiaSharp.SKEncodedImageFormat.Png));
        var result = CliRunner.Run("predict", "--weights", Checkpoint, "--config", config, "--dataset", "imagenet", "--json", image);
        Assert.True(result.Code == 0, result.Err);
        var top = System.Text.Json.JsonDocument.Parse(result.Out).RootElement[0].GetProperty("top");
        foreach (var t in top.EnumerateArray())
            Assert.Equal(ParNet.Data.DatasetInfo.ImageNet.ClassNames[t.GetProperty("class").GetInt32()], t.GetProperty("name").GetString());
        CliRunner.AssertUserError(CliRunner.Run("predict", "--weights", Checkpoint, "--config", config, "--dataset", "cifar10", image),
            "--dataset cifar10: 10 class names (data set cifar10) for the 1000 classes of");
    }

    /// <summary>The input AFL++ found (target pt, 2026-12-02): the seed .pt with 512 bytes cut from its middle. Reading it
    /// through PyBridge's path overload left the file open, and the next write to it failed with "being used by another
    /// process" (a server would leak a handle per bad upload).</summary>
    static readonly byte[] LeakingPt = Convert.FromBase64String(
        "UEsDBBQAAAAIAPIogl3RnmdVCgAAAAIAAAANAAAAbW9kZWwvdmVyc2lvbjLmAgAAAP//AwBQSwMEFAAAAAgA8iiCXfPRVQgFAQAAAAEAAAwAAABtb2Rl" +
        "bC9kYXRhLzABAAH//t1wQj4d1Dg+ZjM+PrbDir6TRCy+DR6IPjz8+70QnYa+ny6DPqiLDD7YEYG+yUF+vs0yAz0yy+29nBIivomraT4acom+WpV+PQKZ" +
        "bL7h2eQ8YVpGvbv9jT5ni8q7lfWIPkMsEz6wyYu+/PMNvnKSlT6yu06+WlOGvOqhVL5KMS89EcjqPT8Ivj3UjKY8owaRPp3OJL7KAHY+sW9xvr0mHL5r" +
        "8YM+53+2vGX7jD6RkDs+jSOWPCCBtTy6o209zVTBu5rOmj0XKOQ9Z+c/vTEhjr7gn4s8tQhlvjS+0j0WYwq+GPEYPidCMT4QaGY+WLY/PrIU/T36iUe9" +
        "e11zPiHJZT1QSwMEFAAAAAgA8iiCXW4LeyGFAAAAgAAAAAwAAABtb2RlbC9kYXRhLzEBgAB//3dN2r0vwt291CYwPpG7Ir7jW22+0TZbPpoD8L2Heae9" +
        "X0dRvs3f5DuHTO+9EYdyPmXhgb69toW+OuErvudp5LvNYFY6mHyQPdIQgj5zHQo+mi1SPhYuhD7fN/o9atttvqVGJj4tSnY92qp2PfLoVr4Gb5e+DaFI" +
        "vFlMlj4voYg+UEsDBBQAAAAIAPIogl0q6skwBQEAAAABAAAMAAAAbW9kZWwvZGF0YS8yAQAB//49Hjg/trV3P0NJBz8oSYg/YcdcP32GOj/R/JI/ghe5" +
        "P1/3TT+9Yl8/rUt/P64mVj+p9qE/fBQ9P5xNuD/iKqg/7QQqP8/eLD+ybII/zN2bP+K0uz8jPok/7qmQP/57gz9o07E/CFyEP/iUjj8iQE0/14IEP2Cs" +
        "tT+uUY0/6JqvP5dDWT9u/7M/QZQ6P/xauz8xvWg/ZA5MP6Jwgz8hShk/BY1eP06DNj82H7o/ml4TP9Rvpz9Ytko/NqCTP5Hgaj/S1A0/7lKTP50VoT+O" +
        "OqA/VwojP1HxPD94wpU/+NS9PzAUej+rdic/sKOBP83QUD8ypHs/vg2bP9MpYD9KT6Y9vuCGlbzSzt099QdFvuA+jDz6Yb+9PMPLPfXC1r3F+We+XOk7" +
        "vuVU2b0hPOW9Jgp9PrpA8Lx6m2q+iGQ0vkCDjTwaznA8DUJ/PgTCM75cQT4+NY6Yvi4iSz5nel49GaY6PjRa6LztlXA+JK9BvdHNWT2+o2M+9xYmvc2N" +
        "jD7dbIG9bBV4Pu60ib5SkDQ+4ACvvHAEPj5ntLm7ZeiJvU8WGr5w9689hyZEPoOyIj6tbJm9u0UwvrkA/j18KEM+FAcPPrNzED4K1EQ95NmUPlBLAwQU" +
        "AAAACADyKIJdrqyV1JwBAAALBAAADgAAAG1vZGVsL2RhdGEucGtsndNLb9NAFAXgSUsoNY+mPMobUlpoAnSI3ZY3tAvUjRcV0413lu2M4hHOmDO+btkg" +
        "sfGCf43GziJCIULZXmmuvjk699fST7BesMUYK8jIaFxwj3s8zvLkGzexCYdSF5LHmscqKtBKKDdJysOSVFY4oZFxqbJhSFIXuQnPPKfXC1bqZbmJRhJL" +
        "zQPnOMsjOm2GDpaDFmNsgAvBMmMs+V6i7R8RLn71mX9UYcVvVbj0O0nyLJMJqVwXzokZSiOHX1RCTh+rFRyBy4QrAleD/pTe5e6U3v3hWrsptVZ6FI5l" +
        "pHHtP/6Qznav1W4XnbTtdwnr1tutcN16b/zbm65WuClwi7AhcPuvsGdwz6UapYQ7i0Pv1lAP99I62PuTYB9Y6MP50EcCjwldgc0aqrSigg/4YFYnJtAn" +
        "i0O3augettO23yE8tdBOhWcWujMf2hPoE54LvAjWbYvycay0tFCvKevLxVm7NWsfvMnv1SS/gWW581mewB5hX+Ag2JliTd/UrFa+Xhz7psYe4G2DfTfB" +
        "vrfYD/OxHwU+ET4LHJb8D1BLAQIUAxQAAAAIAPIogl3RnmdVCgAAAAIAAAANAAAAAAAAAAAAAACkgQAAAABtb2RlbC92ZXJzaW9uUEsBAhQDFAAAAAgA" +
        "8iiCXfPRVQgFAIAAAAEAAAwAAAAAAAAAAAAAAKSBNQAAAG1vZGVsL2RhdGEvMFBLAQIUAxQAAAAIAPIogl1uC3shhQAAAIAAAAAMAAAAAAAAAAAAAACk" +
        "gWQBAABtb2RlbC9kYXRhLzFQSwECFAMUAAAACADyKIJdKurJMAUBAAAAAQAADAAAAAAAAAAAAAAApIETAgAAbW9kZWwvZGF0YS8yUEsBAhQDFAAAAAgA" +
        "8iiCXSxYAeBFAAAAQAAAAAwAAAAAAAAAAAAAAKSBQgMAAG1vZGVsL2RhdGEvM1BLAQIUAxQAAAAIAPIogl0U1+DlBQEAAAABAAAMAAAAAAAAAAAAAACk" +
        "gbEDAABtb2RlbC9kYXRhLzRQSwECFAMUAAAACADyKIJdZ12jJAUBAAAAAQAADAAAAAAAAAAAAAAApIHgBAAAbW9kZWwvZGF0YS81UEsBAhQDFAAAAAgA" +
        "8iiCXa6sldScAQAACwQAAA4AAAAAAAAAAAAAAKSBDwYAAG1vZGVsL2RhdGEucGtsUEsFBgAAAAAIAAgA0wEAANcHAAAAAA==");

    /// <summary>Whether a file descriptor of this process is open on <paramref name="path"/> (the links of /proc/self/fd).</summary>
    static bool OpenInThisProcess(string path) =>
        new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos().Any(fd =>
        {
            try { return fd.LinkTarget == path; }
            catch (IOException) { return false; }   // a descriptor closed while listing
        });

    [Fact]
    public void A_pt_file_is_closed_again_after_reading_it()
    {
        using var dir = new TempDirectory();
        string path = dir.File("fuzz-found.pt"), source = dir.File("source.bin");
        File.WriteAllBytes(source, LeakingPt);
        File.Copy(source, path);
        using (File.OpenRead(path)) Assert.True(OpenInThisProcess(path));   // the check sees an open file
        for (int attempt = 0; attempt < 3; attempt++)
        {
            File.Copy(source, path, overwrite: true);   // exclusive: throws IOException while an earlier read holds the file
            var e = Assert.Throws<InvalidDataException>(() => { foreach (var t in StateDict.Read(path).Values) t.Dispose(); });
            Assert.StartsWith(path, e.Message);
            Assert.False(OpenInThisProcess(path), $"attempt {attempt + 1}: {path} is still open after the read failed");
        }
        File.Delete(path);
        Assert.False(File.Exists(path));
    }
}
