using ParNet.Runtime;

namespace ParNet.Tests.Runtime;

/// <summary>oneDNN on or off (process-wide) until disposed, then as it was: tests that need one setting say so, whatever
/// an earlier test left (a model needing it off turns it off for the process, by design).</summary>
sealed class OneDnnSetting : IDisposable
{
    readonly bool _before = LibTorchWorkarounds.OneDnnEnabled;

    OneDnnSetting(bool enabled) => LibTorchWorkarounds.OneDnnEnabled = enabled;

    public static OneDnnSetting Set(bool enabled) => new(enabled);

    /// <summary>Whatever the code inside changes, restored on dispose.</summary>
    public static OneDnnSetting Keep() => new(LibTorchWorkarounds.OneDnnEnabled);

    public void Dispose() => LibTorchWorkarounds.OneDnnEnabled = _before;
}
