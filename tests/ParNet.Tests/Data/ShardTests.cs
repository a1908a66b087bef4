using ParNet.Data;

namespace ParNet.Tests.Data;

public class ShardTests
{
    [Fact]
    public void Training_shards_are_rank_strided_padded_from_the_start_and_equal_in_length()
    {
        int[] order = [9, 8, 7, 6, 5, 4, 3];
        var shards = Enumerable.Range(0, 3).Select(r => new Shard(r, 3, PadToEqual: true).Select(order)).ToArray();
        Assert.Equal([9, 6, 3], shards[0]);
        Assert.Equal([8, 5, 9], shards[1]);   // padded with the order's first entries, as DistributedSampler
        Assert.Equal([7, 4, 8], shards[2]);
    }

    [Fact]
    public void Evaluation_shards_cover_every_image_exactly_once()
    {
        int[] order = Enumerable.Range(0, 10).ToArray();
        var all = Enumerable.Range(0, 3).SelectMany(r => new Shard(r, 3, PadToEqual: false).Select(order)).Order();
        Assert.Equal(order, all);
        Assert.Equal([4, 3, 3], Enumerable.Range(0, 3).Select(r => new Shard(r, 3, false).Length(10)));
    }

    [Fact]
    public void Global_batch_k_of_two_shards_holds_the_images_of_batch_k_of_one_process_with_twice_the_batch()
    {
        var order = Enumerable.Range(100, 64).ToArray();
        var r0 = new Shard(0, 2, true).Select(order);
        var r1 = new Shard(1, 2, true).Select(order);
        for (int k = 0; k < 2; k++)
            Assert.Equal(order.Skip(32 * k).Take(32).Order(), r0.Skip(16 * k).Take(16).Concat(r1.Skip(16 * k).Take(16)).Order());
    }

    [Fact]
    public void More_processes_than_images_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => new Shard(0, 5, true).Validate(4));
        Assert.Contains("5 processes but only 4 images", e.Message);
    }
}
