using ParNet.Models;

namespace ParNet.Tests.Models;

public class AuthorsYamlConfigTests
{
    /// <summary>Their SimpNet builds a stream of num_blocks 1 as its downsampling block alone, and asserts only that the
    /// last stream has more (simpnet.py: `assert (num_blocks[-2] != 1)`); the reader refused any stream of 1, while a JSON
    /// configuration takes BlocksPerStream 0 (session 28's walk E).</summary>
    [Fact]
    public void A_stream_of_one_block_is_read_as_their_SimpNet_builds_it_and_only_the_last_stream_needs_two()
    {
        var config = AuthorsYamlConfig.Parse("planes: [16, 32, 64, 128]\nnum_blocks: [1, 1, 2, 1]\n", "thin");
        Assert.Equal([0, 0, 1], config.BlocksPerStream);
        using var model = ModelFactory.Create(config);
        using var y = model.call(TorchSharp.torch.zeros(1, 3, 64, 64));
        Assert.Equal([1L, 1000L], y.shape);

        var refused = Assert.Throws<InvalidDataException>(() => AuthorsYamlConfig.Parse("planes: [16, 32, 64, 128]\nnum_blocks: [2, 2, 1, 1]\n", "x"));
        Assert.Equal("num_blocks [2, 2, 1, 1]: every stream needs 1 or more (its downsampling block), the last stream 2 or more " +
                     "(its downsampling block and a stream block; their SimpNet asserts it)", refused.Message);
        Assert.Throws<InvalidDataException>(() => AuthorsYamlConfig.Parse("planes: [16, 32, 64, 128]\nnum_blocks: [0, 2, 2, 1]\n", "x"));
    }
}
