namespace ParNet.Tests.Architecture;

/// <summary>
/// ASP.NET Core stays in src/ParNet.Serving (docs/architecture.md): the library does not reference it, and the server
/// uses the library, never the CLI.
/// </summary>
public class ServingAssemblyTests
{
    static readonly System.Reflection.Assembly Library = typeof(ParNet.Models.ModelConfig).Assembly;
    static readonly System.Reflection.Assembly Serving = typeof(ParNet.Serving.InferenceServer).Assembly;

    [Fact]
    public void The_library_references_no_web_assembly()
    {
        var web = Library.GetReferencedAssemblies().Select(a => a.Name!)
            .Where(n => n.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal) || n.StartsWith("Prometheus", StringComparison.Ordinal))
            .ToList();
        Assert.Empty(web);
    }

    [Fact]
    public void The_server_uses_the_library_and_not_the_cli()
    {
        var names = Serving.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.Contains(Library.GetName().Name, names);
        Assert.Contains("Microsoft.AspNetCore.Http.Abstractions", names);   // the probe sees web references where they are
        Assert.DoesNotContain("parnet", names);
    }
}
