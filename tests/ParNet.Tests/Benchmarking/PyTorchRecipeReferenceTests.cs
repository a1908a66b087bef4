using System.Text.Json;
using ParNet.Tests.Scripts;
using ParNet.Training;

namespace ParNet.Tests.Benchmarking;

/// <summary>
/// bench/pytorch/pytorch_recipe_reference.py trains the fashion-mnist recipe on PyTorch from its description, written out
/// in the script (RESULTS.md, "An outside check of training"): its check means something only while that transcription
/// is the recipe. Its --print-recipe (no torch needed) is held here to <see cref="Recipes.FashionMnist"/>, field by
/// field, and its LR to <see cref="LrSchedules.At"/> at fractional epochs across the warm-up, the cosine and the end.
/// </summary>
public class PyTorchRecipeReferenceTests
{
    static readonly double[] Epochs = [0, 0.001, 0.25, 0.5, 0.999, 1, 1.001, 2.5, 4.5, 7, 7.999, 8];

    static JsonElement Printed()
    {
        var (code, stdout, stderr) = PythonScript.RunFile(Repository.Path("bench", "pytorch", "pytorch_recipe_reference.py"),
            ["--print-recipe", .. Epochs.Select(e => e.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        Assert.True(code == 0, stderr);
        return JsonDocument.Parse(stdout).RootElement;
    }

    /// <summary>Recipe's fields the script's training does not read: names, the seed (its own --seed: the two trainings share
    /// no random numbers), a step schedule's settings (the recipe's is a cosine) and a folder data set's image side.</summary>
    static readonly string[] NotTrainedOn = ["Name", "Description", "Seed", "StepEpochs", "StepGamma", "Milestones", "ImageSize"];

    [Fact]
    public void The_script_trains_the_fashion_mnist_recipe_field_by_field_and_knows_every_field()
    {
        var recipe = Recipes.FashionMnist;
        var printed = Printed();
        var fields = printed.GetProperty("recipe").EnumerateObject().ToList();
        foreach (var field in fields)
        {
            var property = typeof(Recipe).GetProperty(field.Name) ?? throw new Xunit.Sdk.XunitException($"Recipe has no {field.Name}");
            object? ours = property.GetValue(recipe);
            string expected = ours switch
            {
                bool b => b ? "true" : "false",
                double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
                float f => ((double)f).ToString("R", System.Globalization.CultureInfo.InvariantCulture),
                null => "null",
                _ => ours.ToString()!,
            };
            string theirs = field.Value.ValueKind switch
            {
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                JsonValueKind.String => field.Value.GetString()!,
                JsonValueKind.Number when ours is double or float => field.Value.GetDouble().ToString("R", System.Globalization.CultureInfo.InvariantCulture),
                _ => field.Value.GetRawText(),
            };
            Assert.True(expected == theirs, $"Recipe.{field.Name}: the recipe says {expected}, the script {theirs}");
        }
        // a field Recipe gains (an augmentation, say) fails here until the script trains with it or it is listed as not read
        var known = fields.Select(f => f.Name).Concat(NotTrainedOn).Order(StringComparer.Ordinal);
        Assert.Equal(typeof(Recipe).GetProperties().Where(p => p.CanWrite).Select(p => p.Name).Order(StringComparer.Ordinal), known);
        // the network the script builds from the authors' blocks: planes [w, 2w, 4w], final 4w, blocks 3, 4, 4
        var network = recipe.Network(numClasses: 10, inChannels: 1);
        Assert.Equal([16, 32, 64], network.Planes);
        Assert.Equal(64, network.FinalWidth);
        Assert.Equal([3, 4, 4], network.BlocksPerStream);
        // and the normalization it applies: Fashion-MNIST's statistics, as the data pipeline's
        Assert.Equal(ParNet.Data.DatasetInfo.FashionMnist.Mean[0], printed.GetProperty("mean").GetSingle(), 4);
        Assert.Equal(ParNet.Data.DatasetInfo.FashionMnist.Std[0], printed.GetProperty("std").GetSingle(), 4);
    }

    [Fact]
    public void The_scripts_learning_rate_is_the_recipes_at_every_fractional_epoch()
    {
        var lr = Printed().GetProperty("lr").EnumerateArray().Select(v => v.GetDouble()).ToList();
        Assert.Equal(Epochs.Length, lr.Count);
        for (int i = 0; i < Epochs.Length; i++)
            Assert.True(Math.Abs(LrSchedules.At(Recipes.FashionMnist, Epochs[i]) - lr[i]) < 1e-12,
                        $"epoch {Epochs[i]}: ours {LrSchedules.At(Recipes.FashionMnist, Epochs[i])}, the script's {lr[i]}");
    }
}
