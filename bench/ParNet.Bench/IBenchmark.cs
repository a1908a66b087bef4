namespace ParNet.Bench;

/// <summary>One benchmark suite, run by name. Results are printed and written as files the suite names.</summary>
public interface IBenchmark
{
    string Name { get; }
    int Run(string[] args);
}
