using System.Reflection;

namespace ParNet.Tests.Architecture;

/// <summary>
/// The library's layers (docs/architecture.md): a namespace may use only namespaces of lower layers and
/// itself. Two namespaces of one layer stay independent of each other; that also rules out every cycle.
/// </summary>
public class LayeringTests
{
    static readonly string[][] Layers =
    [
        ["ParNet.Runtime"],                     // libtorch workarounds, native setup, file replacement: know no model
        ["ParNet.Distributed"],                 // processes of a data-parallel run (MPI) and their collectives: know no model
        ["ParNet.Models"],                      // configs, registry, blocks, networks, their symbolic trace
        ["ParNet.Weights"],                     // state dicts in and out of files
        ["ParNet.Fusion"],                      // re-parameterization into the inference form
        ["ParNet.Analysis", "ParNet.Data"],     // model summaries; data sets, transforms, loaders
        ["ParNet.Training"],                    // recipes, the trainer, checkpoints, evaluation
        ["ParNet.Export"],                      // ONNX and the deployment metadata (reads training state)
        ["ParNet.Inference"],                   // engines and executors that run a deployed model
        ["ParNet.Benchmarking"],                // times all of the above
        ["ParNet.Studies"],                     // the paper's studies: grids of training runs, verdicts, reports
    ];

    static readonly Assembly Library = typeof(ParNet.Models.ModelConfig).Assembly;

    /// <summary>The layer's namespace of a type: ParNet.Models.Blocks belongs to ParNet.Models.</summary>
    static string? LayerNamespace(Type t)
    {
        var ns = t.Namespace;
        if (ns is null || !(ns == "ParNet" || ns.StartsWith("ParNet.", StringComparison.Ordinal))) return null;
        return Layers.SelectMany(l => l).FirstOrDefault(n => ns == n || ns.StartsWith(n + ".", StringComparison.Ordinal)) ?? ns;
    }

    static int LayerOf(string ns) => Array.FindIndex(Layers, l => l.Contains(ns));

    [Fact]
    public void Every_library_namespace_has_a_layer()
    {
        var unplaced = Library.GetTypes().Select(LayerNamespace).OfType<string>().Distinct().Where(ns => LayerOf(ns) < 0).ToList();
        Assert.Empty(unplaced);
    }

    [Fact]
    public void No_library_type_refers_to_a_higher_layer_or_a_sibling()
    {
        var violations = new SortedSet<string>();
        foreach (var type in Library.GetTypes())
        {
            var from = LayerNamespace(type);
            if (from is null || LayerOf(from) < 0) continue;
            foreach (var target in TypeReferences.Of(type))
            {
                var to = LayerNamespace(target);
                if (to is null || to == from || target.Assembly != Library) continue;
                if (LayerOf(to) >= LayerOf(from))
                    violations.Add($"{from} -> {to}: {Outermost(type).FullName} uses {Outermost(target).FullName}");
            }
        }
        Assert.True(violations.Count == 0, string.Join("\n", violations));
    }

    [Fact]
    public void The_reference_reader_sees_fully_qualified_names_in_method_bodies()
    {
        // Probe.Run names ParNet.Training.TrainingState only inside its body, fully qualified, with no using directive.
        Assert.Contains(typeof(ParNet.Training.TrainingState), TypeReferences.Of(typeof(Probe)));
    }

    static class Probe
    {
        public static object Run() => ParNet.Training.TrainingState.FromJson("{}");
    }

    static Type Outermost(Type t) => t.DeclaringType is null ? t : Outermost(t.DeclaringType);
}
