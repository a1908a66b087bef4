using ParNet.Fusion;
using static TorchSharp.torch;

namespace ParNet.Tests.Fusion;

/// <summary>Each identity of <see cref="FusionMath"/> against the operation it replaces (float32, as the models).</summary>
public class FusionMathTests
{
    static Tensor Randn(params long[] shape) => randn(shape);

    [Fact]
    public void Folded_batch_norm_equals_conv_then_batch_norm()
    {
        manual_seed(1);
        var (x, w) = (Randn(2, 4, 6, 6), Randn(5, 4, 3, 3));
        var (mean, variance, gamma, beta) = (Randn(5), rand(5) + 0.1, Randn(5), Randn(5));
        var expected = nn.functional.batch_norm(nn.functional.conv2d(x, w, padding: [1, 1]), mean, variance, gamma, beta, training: false, eps: 1e-5);
        var (wf, bf) = FusionMath.FoldBatchNorm(w, mean, variance, gamma, beta, 1e-5);
        var actual = nn.functional.conv2d(x, wf, bf, padding: [1, 1]);
        Assert.True(FusionTestSupport.RelativeL2(actual, expected) < 1e-6);
    }

    [Fact]
    public void The_affine_form_equals_batch_norm_in_eval_mode_with_randomized_statistics()
    {
        manual_seed(7);
        var x = Randn(2, 5, 4, 4);
        var (mean, variance, gamma, beta) = (Randn(5), rand(5) * 3 + 0.1, Randn(5), Randn(5));
        var expected = nn.functional.batch_norm(x, mean, variance, gamma, beta, training: false, eps: 1e-5);
        var (scale, shift) = FusionMath.BatchNormAffine(mean, variance, gamma, beta, 1e-5);
        var actual = x * scale.view(1, 5, 1, 1) + shift.view(1, 5, 1, 1);
        Assert.True(FusionTestSupport.RelativeL2(actual, expected) < 1e-6);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Padded_one_by_one_kernel_equals_the_one_by_one_conv(int groups)
    {
        manual_seed(2);
        var (x, w) = (Randn(2, 4, 7, 5), Randn(6, 4 / groups, 1, 1));
        var expected = nn.functional.conv2d(x, w, groups: groups);
        var actual = nn.functional.conv2d(x, FusionMath.PadOneByOneToThreeByThree(w), padding: [1, 1], groups: groups);
        Assert.Equal(new long[] { 6, 4 / groups, 3, 3 }, FusionMath.PadOneByOneToThreeByThree(w).shape);
        Assert.True(FusionTestSupport.RelativeL2(actual, expected) < 1e-6);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Pooled_kernel_equals_average_pool_then_one_by_one_conv_for_even_sizes(int groups)
    {
        manual_seed(3);
        var (x, w) = (Randn(2, 4, 8, 6), Randn(6, 4 / groups, 1, 1));
        var expected = nn.functional.conv2d(nn.functional.avg_pool2d(x, 2, 2), w, groups: groups);
        var actual = nn.functional.conv2d(x, FusionMath.PooledOneByOneToThreeByThree(w), strides: [2, 2], padding: [1, 1], groups: groups);
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(FusionTestSupport.RelativeL2(actual, expected) < 1e-6);
    }

    [Fact]
    public void Pooled_kernel_has_the_quarter_weights_at_the_bottom_right()
    {
        var kernel = FusionMath.PooledOneByOneToThreeByThree(full(1, 1, 1, 1, 8.0f));
        var expected = tensor(new float[] { 0, 0, 0, 0, 2, 2, 0, 2, 2 }).reshape(1, 1, 3, 3);
        Assert.True(FusionTestSupport.Same(kernel, expected));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Identity_kernel_maps_x_to_x(int groups)
    {
        var x = Randn(2, 6, 5, 5);
        var y = nn.functional.conv2d(x, FusionMath.IdentityKernel(6, groups), padding: [1, 1], groups: groups);
        Assert.True(y.allclose(x, rtol: 0, atol: 0));
    }

    [Fact]
    public void Kernels_of_the_wrong_size_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => FusionMath.PadOneByOneToThreeByThree(zeros(2, 2, 3, 3)));
        Assert.Throws<ArgumentException>(() => FusionMath.PooledOneByOneToThreeByThree(zeros(2, 2)));
        Assert.Throws<ArgumentException>(() => FusionMath.IdentityKernel(5, 2));
    }
}
