using System.Text;

namespace ParNet.Cli;

/// <summary>
/// The process's arguments as the kernel holds them (/proc/self/cmdline), before .NET decodes them: an argument whose
/// bytes are not UTF-8 reaches the program with U+FFFD in their place, indistinguishable from a name that really holds
/// U+FFFD but for these bytes.
/// </summary>
static class RawArguments
{
    /// <summary>Whether any argument of this process is not UTF-8 (false off Linux, where nothing is read).</summary>
    public static bool AnyNotUtf8 { get; } = Read();

    static bool Read()
    {
        if (!OperatingSystem.IsLinux()) return false;
        byte[] all;
        try { all = File.ReadAllBytes("/proc/self/cmdline"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
        var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        try { strict.GetCharCount(all); }   // the separators are NUL bytes, which are UTF-8
        catch (DecoderFallbackException) { return true; }
        return false;
    }
}
