using System.Reflection;

namespace ParNet.Runtime;

/// <summary>The code that runs: what a run folder's commands.log and an evaluation's summary.json name, so that a number
/// can be traced to the commit that made it.</summary>
public static class CodeVersion
{
    /// <summary>ParNet's version with the commit it was built from ("0.1.0+e7d4ea81..."): the library's informational
    /// version, to which the .NET SDK appends the git commit it builds (built outside a git clone: the version alone).</summary>
    public static string Current { get; } =
        typeof(CodeVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
}
