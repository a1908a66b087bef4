using ParNet.Runtime;
using static TorchSharp.torch;

namespace ParNet.Benchmarking;

/// <summary>A row of <see cref="InferenceBenchmark"/> to time: <see cref="Runner"/> makes the input of a batch size and
/// returns the run (which answers its own seconds) and what owns its input.</summary>
sealed record BenchmarkRow(string Key, string Name, string Engine, double Gflop, Func<int, (Func<double> Run, IDisposable Owner)> Runner, string? Note = null);

/// <summary>The runs of the rows: a TorchSharp forward pass or an ONNX Runtime session on a fixed random input.</summary>
static class RowRunners
{
    public static BenchmarkRow TorchRow(InferenceBenchmarkOptions o, string key, string name, string engine, double gflop, nn.Module<Tensor, Tensor> model, ScalarType dtype) =>
        new(key, name, engine, gflop, batch => Torch(batch, o, dtype, x => model.call(x)), dtype == ScalarType.BFloat16 ? "bfloat16 weights and activations" : null);

    public static (Func<double>, IDisposable) Torch(int batch, InferenceBenchmarkOptions o, ScalarType dtype, Func<Tensor, Tensor> forward,
                                                    bool inferenceMode = true, bool channelsLast = false)
    {
        manual_seed(1);
        Tensor x;
        using (var scope = NewDisposeScope())   // holds the intermediates (RESULTS.md, defect 6); x lives as long as the runner
        {
            x = randn(batch, o.Model.InChannels, o.ImageSize, o.ImageSize).to(dtype);
            if (channelsLast) x = MemoryFormat.ToChannelsLast(x);
            x.DetachFromDisposeScope();
        }
        return (() => TimingStats.Seconds(() =>
        {
            using var mode = inferenceMode ? inference_mode(true) : no_grad();
            using var scope = NewDisposeScope();
            forward(x);
        }), x);
    }

    public static (Func<double>, IDisposable) Onnx(Func<float[], long[], (float[], long[])> run, int batch, InferenceBenchmarkOptions o)
    {
        var rng = new Random(1);
        long[] shape = [batch, o.Model.InChannels, o.ImageSize, o.ImageSize];
        var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return (() => TimingStats.Seconds(() => run(data, shape)), new NoOwner());
    }

    /// <summary>The owner of an input that needs no disposing (a managed array, or the child process's own).</summary>
    public sealed class NoOwner : IDisposable { public void Dispose() { } }
}

/// <summary>What a run owns until its rows are timed (models, sessions, inputs); disposed last-made first, once.</summary>
sealed class Disposables : IDisposable
{
    readonly List<IDisposable> _items = [];

    public T Add<T>(T item) where T : IDisposable
    {
        _items.Add(item);
        return item;
    }

    public void Dispose()
    {
        for (int i = _items.Count - 1; i >= 0; i--) _items[i].Dispose();
        _items.Clear();
    }
}
