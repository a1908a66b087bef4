namespace ParNet.Models.Tracing;

/// <summary>A module that can describe its computation symbolically (see <see cref="LayerGraph"/>).</summary>
public interface ITraceable
{
    /// <param name="prefix">the module's state-dict prefix, ending with '.' (or empty at the root)</param>
    GraphNode Trace(LayerGraph graph, string prefix, GraphNode x);
}
