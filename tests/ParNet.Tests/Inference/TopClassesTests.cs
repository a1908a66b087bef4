using ParNet.Inference;

namespace ParNet.Tests.Inference;

/// <summary>The best classes as predict prints them and serve answers them: ranked, ties in class order, unnamed classes
/// named by their index, and an output with NaN or infinity refused instead of ranked.</summary>
public class TopClassesTests
{
    [Fact]
    public void The_best_classes_come_most_probable_first_ties_in_class_order()
    {
        var best = TopClasses.Of([0.1f, 0.4f, 0.1f, 0.4f], 3, ["a", "b", "c"]);
        Assert.Equal([new(1, "b", 0.4f), new(3, "class 3", 0.4f), new ClassProbability(0, "a", 0.1f)], best);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void An_output_that_is_not_finite_is_refused(float value)
    {
        var e = Assert.Throws<InvalidDataException>(() => TopClasses.Of([0.5f, value, 0.5f], 1, ["a", "b", "c"]));
        Assert.Equal("the model's output for this image is not finite (NaN or infinity): its weights hold such values, or overflow", e.Message);
    }
}
