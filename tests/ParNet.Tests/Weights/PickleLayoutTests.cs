using System.IO.Compression;
using System.Text;
using ParNet.Export;
using ParNet.Tests.Cli;
using ParNet.Tests.Data;
using ParNet.Weights;
using static TorchSharp.torch;

namespace ParNet.Tests.Weights;

/// <summary>
/// torch.save files beyond a plain row-major state dict (tests/data/pickles, written by make_pickles.py there on PyTorch
/// 1.13: each odd layout beside PyTorch's own contiguous copy of it), malformed ones, and malformed safetensors headers:
/// an audit of session 47 found valid files refused, stack traces, and refusals in words that named nothing in the file.
/// </summary>
public class PickleLayoutTests
{
    static string Pickle(string name) => Repository.Path("tests", "data", "pickles", name);

    /// <summary>A channels-last model's weights (timm's train.py --channels-last), a transposed tensor, a view into a larger
    /// storage, an expanded one (stride 0), a scalar: PyBridge refused the first four ("Bytes() called on non-contiguous tensor").</summary>
    [Theory]
    [InlineData("channels_last"), InlineData("transposed"), InlineData("offset_view"), InlineData("expanded"), InlineData("scalar"), InlineData("half_channels_last")]
    public void A_tensor_of_any_saved_layout_reads_as_PyTorchs_contiguous_copy(string key)
    {
        using var scope = NewDisposeScope();
        var read = StateDict.Read(Pickle("layouts.pt"));
        Tensor tensor = read[key], expected = read[key + ".expected"];
        Assert.Equal(expected.shape, tensor.shape);
        Assert.Equal(expected.dtype, tensor.dtype);
        Assert.True(tensor.is_contiguous());
        Assert.True(tensor.eq(expected).all().item<bool>(), $"{key}: {tensor.ToString(TorchSharp.TensorStringStyle.Julia)}");
        if (key == "scalar") Assert.Equal(2.5f, tensor.item<float>());   // the value make_pickles.py saved, not only a copy of it
    }

    [Fact]
    public void A_view_keeps_no_more_of_its_storage_than_its_own_elements()
    {
        using var scope = NewDisposeScope();
        var read = StateDict.Read(Pickle("layouts.pt"));
        // big[5:9] of a 12-element storage: a copy of its 4 elements, not a window on the 12
        Assert.Equal(0, read["offset_view"].storage_offset());
        Assert.Equal(4 * sizeof(float), read["offset_view"].bytes.Length);
    }

    [Theory]
    [InlineData("past-storage.pt", "a tensor of size [4], stride [1], offset 2 reaches past its storage archive/data/0 of 4 elements")]
    [InlineData("negative-size.pt", "a tensor of size [-4], stride [1], offset 0: not a layout torch.save writes")]
    [InlineData("quantized-storage.pt", "a tensor of a storage type this reader does not take: a quantized tensor's? (float, half, bfloat16, integer, bool and complex ones are read)")]
    [InlineData("missing-storage.pt", "a tensor's data is missing from the archive: the file is incomplete")]
    [InlineData("list.pt", "what it holds is not a dict: a state dict, or a checkpoint that holds one")]
    public void A_malformed_torch_file_is_refused_in_one_line_naming_it_and_what_is_wrong(string name, string why)
    {
        string path = Pickle(name);
        var e = Assert.Throws<InvalidDataException>(() => StateDict.Read(path));
        Assert.Equal($"{path}: cannot read weights ({why})", e.Message);
    }

    /// <summary>torchvision's reference scripts keep a checkpoint's weights under "model" and "model_ema" (the state dict of an
    /// AveragedModel: n_averaged beside the keys under "module."): refused as "entry 'model' is not a tensor"; timm's file of
    /// EMA weights alone was called a plain state dict.</summary>
    [Fact]
    public void Checkpoints_under_model_and_model_ema_read_and_one_of_EMA_weights_alone_says_so()
    {
        using var scope = NewDisposeScope();
        string checkpoint = Pickle("model-key-checkpoint.pth"), emaOnly = Pickle("ema-only.pth.tar");
        var model = StateDict.Read(checkpoint);
        var ema = StateDict.Read(checkpoint, "weights", CheckpointWeights.Ema);
        Assert.Equal(["w"], model.Keys);
        Assert.True(ema["w"].eq(model["w"] * 0.5).all().item<bool>());   // as make_pickles.py saved them
        Assert.True(StateDict.Read(emaOnly, "weights", CheckpointWeights.Ema)["w"].eq(ema["w"]).all().item<bool>());
        var e = Assert.Throws<InvalidDataException>(() => StateDict.Read(emaOnly));
        Assert.Equal($"{emaOnly}: this checkpoint holds EMA weights alone (state_dict_ema), no state_dict: ask for its EMA weights", e.Message);
    }

    /// <summary>A timm checkpoint's EMA weights and optimizer state were left to the finalizer: 570 tensors live after each read
    /// of the fixture once the caller had disposed the 378 it got (a library audit of session 47).</summary>
    [Theory]
    [InlineData(CheckpointWeights.Model), InlineData(CheckpointWeights.Ema)]
    public void Reading_a_training_checkpoint_leaves_no_tensor_but_those_returned(CheckpointWeights pick)
    {
        var statistics = TorchSharp.DisposeScopeManager.Statistics;
        long before = statistics.ThreadTotalLiveCount;
        var read = StateDict.Read(Fixtures.Path("parnet_official_tiny_silu.timm.pth.tar"), "weights", pick);
        Assert.Equal(before + read.Count, statistics.ThreadTotalLiveCount);
        foreach (var t in read.Values) t.Dispose();
        Assert.Equal(before, statistics.ThreadTotalLiveCount);
    }

    /// <summary>Lists nested a million deep (2 MB of pickle): the walk that disposes the tensors not returned recursed, and a
    /// stack overflow ends the process (review, session 47).</summary>
    [Fact]
    public void A_pickle_nested_a_million_deep_is_refused_not_a_stack_overflow()
    {
        using var dir = new TempDirectory();
        string deep = dir.File("deep.pt");
        const int depth = 1_000_000;
        using (var zip = ZipFile.Open(deep, ZipArchiveMode.Create))
        using (var pickle = zip.CreateEntry("archive/data.pkl", CompressionLevel.Optimal).Open())
        {
            // protocol 2: {"w": [[[...]]]}: EMPTY_DICT, the key, then EMPTY_LIST a million times, APPEND as often, SETITEM, STOP
            pickle.Write([0x80, 0x02, (byte)'}', (byte)'X', 1, 0, 0, 0, (byte)'w']);
            pickle.Write(Enumerable.Repeat((byte)']', depth).ToArray());
            pickle.Write(Enumerable.Repeat((byte)'a', depth - 1).ToArray());
            pickle.Write([(byte)'s', (byte)'.']);
        }
        var e = Assert.Throws<InvalidDataException>(() => StateDict.Read(deep));
        Assert.Equal($"{deep}: entry 'w' is not a tensor (ArrayList)", e.Message);
    }

    /// <summary>A 58 KB file whose deflated data.pkl was 60 MB of one opcode took 1.15 GB to read (the unpickler's objects).</summary>
    [Theory]
    [InlineData(false), InlineData(true)]
    public void A_pickle_that_inflates_past_16_MiB_is_refused_before_it_is_unpickled(bool crcZeroed)
    {
        using var dir = new TempDirectory();
        string bomb = dir.File("bomb.pth");
        using (var zip = ZipFile.Open(bomb, ZipArchiveMode.Create))
        using (var pickle = zip.CreateEntry("archive/data.pkl", CompressionLevel.Optimal).Open())
        {
            var nones = Enumerable.Repeat((byte)'N', 1 << 20).ToArray();   // pickle's NONE opcode
            for (int i = 0; i < 17; i++) pickle.Write(nones);
        }
        // a CRC of 0 (PyTorch >= 2.6 can save without CRCs) skipped the entry's check, and with it the count (review, session 47)
        if (crcZeroed) ZeroCrcs(bomb);
        Assert.True(new FileInfo(bomb).Length < 200_000);
        var e = Assert.Throws<InvalidDataException>(() => StateDict.Read(bomb));
        Assert.Equal($"{bomb}: cannot read weights: its archive/data.pkl holds more than 16 MiB of pickle, far more than a state dict's index needs " +
                     "(a decompression bomb?)", e.Message);
    }

    /// <summary>Every CRC-32 of a zip set to 0, in its local headers (offset 14) and its central directory (offset 16).</summary>
    static void ZeroCrcs(string path)
    {
        var bytes = File.ReadAllBytes(path);
        for (int i = 0; i + 4 <= bytes.Length; i++)
        {
            uint signature = BitConverter.ToUInt32(bytes, i);
            int at = signature == 0x04034b50 ? i + 14 : signature == 0x02014b50 ? i + 16 : -1;
            if (at >= 0) Array.Clear(bytes, at, 4);
        }
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>A header that is JSON but not an object, or has a key twice, ended every command that takes --weights with a
    /// stack trace (exit 134); a negative size carried libtorch's native stack trace into the message.</summary>
    [Theory]
    [InlineData("[1,2,3]", "not a safetensors file (its header is not a JSON object)")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                "unreadable safetensors header (")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "unreadable safetensors header (")]   // nested: was a stack trace
    [InlineData("{\"__metadata__\":{\"model\":\"a\",\"model\":\"b\"},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "unreadable safetensors header (")]
    public void A_malformed_safetensors_header_is_one_line_from_every_command(string header, string why)
    {
        using var dir = new TempDirectory();
        string file = dir.File("bad.safetensors");
        WriteSafetensors(file, header, 4);
        var e = Assert.Throws<InvalidDataException>(() => DeploymentInfo.ForWeights(file));
        Assert.StartsWith($"{file}: {why}", e.Message);
        var convert = CliRunner.Run("convert", "--weights", file, "--model", "parnet_s", "--out", dir.File("out.safetensors"));
        Assert.Equal(2, convert.Code);
        Assert.Equal($"parnet convert: {e.Message}", convert.Err.TrimEnd());
    }

    /// <summary>What the format's own reader refuses (Python's safetensors): PyBridge's took overlapping tensors, holes, bytes
    /// after the last tensor and a third offset, answered an entry without a shape with a null reference, and a negative size
    /// with libtorch's native stack trace.</summary>
    [Theory]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16, "its tensor 'w' has a negative size or reversed offsets")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", 16, "its tensor 'w' has no shape (a list of sizes)")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16,32]}}", 16, "its tensor 'w' has no data_offsets [begin, end]")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}", 12, "its tensor 'w' spans 12 bytes where its shape [4] of F32 takes 16")]
    [InlineData("{\"w\":{\"dtype\":\"Q4\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, "its tensor 'w' has a dtype this reader does not know (Q4)")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24,
                "its tensor 'b' starts at byte 8 of the data, where an earlier tensor's bytes still run (tensors overlap)")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20,
                "its tensor 'b' starts at byte 12 of the data, where the bytes before it end at 8 (a gap)")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 20, "its tensors take 16 bytes of data, the file holds 20 after its header (bytes after the last tensor)")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "its tensors take 16 bytes of data, the file holds 8 after its header (truncated)")]
    public void A_safetensors_file_that_does_not_tile_its_data_is_refused_naming_what_is_wrong(string header, int dataBytes, string why)
    {
        using var dir = new TempDirectory();
        string file = dir.File("bad.safetensors");
        WriteSafetensors(file, header, dataBytes);
        var e = Assert.Throws<InvalidDataException>(() => StateDict.Read(file));
        Assert.Equal($"{file}: {why}", e.Message);
    }

    static void WriteSafetensors(string path, string header, int dataBytes)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes((ulong)json.Length));
        f.Write(json);
        f.Write(new byte[dataBytes]);
    }
}
