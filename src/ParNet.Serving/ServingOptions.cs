using System.Net;
using ParNet.Runtime;

namespace ParNet.Serving;

/// <summary>Where `parnet serve` listens and what it accepts. Every default has its reason beside it.</summary>
public sealed record ServingOptions
{
    /// <summary>Loopback by default: a model server is exposed on purpose (--host 0.0.0.0), never by accident.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>8080, the usual unprivileged HTTP port; 0 asks the operating system for a free one (tests).</summary>
    public int Port { get; init; } = 8080;

    public MicroBatcherOptions Batching { get; init; } = new();

    /// <summary>
    /// Largest request body: 16 MiB, above a 12-megapixel camera JPEG (4-8 MB) and a screenshot PNG; a batch request's
    /// images share it. A larger body is answered 413 without being read.
    /// </summary>
    public long MaxBodyBytes { get; init; } = 16L * 1024 * 1024;

    /// <summary>
    /// Largest <see cref="MaxBodyBytes"/>: 2047 MiB, the whole MiB under .NET's largest array (Array.MaxLength, just under
    /// 2 GiB). A body is held in memory in one array (a raw image, a form's file), and a larger one failed inside its
    /// MemoryStream ("Stream was too long") as a 500, not a 413 (an audit of serve).
    /// </summary>
    public static long LargestBody { get; } = 2047L * 1024 * 1024;

    /// <summary>
    /// Most pixels an upload may declare: 16 megapixels (a 4:3 4608x3456 photo), checked before decoding, so a small
    /// file that declares a huge image (a decompression bomb) is refused with 413 before anything is allocated. The
    /// decode of the largest accepted image takes 64 MiB as RGBA plus 192 MiB as float.
    /// </summary>
    public long MaxPixels { get; init; } = 16L * 1024 * 1024;

    /// <summary>Images in one /v1/predict/batch request, at most: 32, four full batches at the default --max-batch.</summary>
    public int MaxImagesPerRequest { get; init; } = 32;

    /// <summary>
    /// Uploads decoded at once: one per core; decoding is CPU work, and more at a time only holds more decoded
    /// images in memory.
    /// </summary>
    public int ConcurrentDecodes { get; init; } = Environment.ProcessorCount;

    /// <summary>Longest a graceful shutdown waits for requests in flight: 30 s, ASP.NET Core's own default.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether Ctrl+C and SIGTERM stop the server gracefully (ASP.NET Core's console lifetime), as `parnet serve` wants. Off
    /// by default: in a program of its own a server took the process's signals, so that Ctrl+C stopped the server and no
    /// longer ended the program (a library audit of session 47); such a program stops it with <see cref="InferenceServer.StopAsync"/>.
    /// </summary>
    public bool StopOnSignals { get; init; }

    /// <summary>
    /// Told of each failure the server answers for itself, when it happens: a request answered 500 (the model failed on a
    /// valid input, or handling the request threw), a batch's file answered "inference failed" in its place. Null by
    /// default: the library prints nothing, and a 500 left no trace anywhere (an audit of serve); `parnet serve` writes
    /// one line each on stderr. Called on the request's thread, concurrently with others; it must not throw.
    /// </summary>
    public Action<ServerFailure>? OnFailure { get; init; }

    /// <summary>
    /// The Host names answered (ASP.NET Core's host filtering: a name, "*.example.org", or "*" for any; a port is not part of
    /// it). Null, the default: localhost, 127.0.0.1 and [::1] where the server is bound to a loopback address (against DNS
    /// rebinding), any where it is bound to another. A reverse proxy on this machine that forwards its own Host to a
    /// loopback server (nginx's proxy_set_header Host $host) names that host here.
    /// </summary>
    public IReadOnlyList<string>? AllowedHosts { get; init; }

    /// <summary>Classes returned per image unless the request asks (?top=K): 5, as the paper's top-5.</summary>
    public int DefaultTop { get; init; } = 5;

    /// <summary>The address listened on: the host's, and for "localhost" 127.0.0.1, beside which a given port (not 0)
    /// also binds ::1 (see InferenceServer).</summary>
    public IPAddress Address() => Host switch
    {
        "localhost" => IPAddress.Loopback,
        _ when IPAddress.TryParse(Host, out var address) => address,
        _ => throw Refused(nameof(Host), Host, "give an IP address (127.0.0.1, 0.0.0.0, ::1) or localhost"),
    };

    /// <summary>Each setting's range, the one place it is checked (with <see cref="MicroBatcherOptions.Validate"/>): an
    /// <see cref="InvalidSettingException"/> naming the setting, which the CLI words with its options.</summary>
    public void Validate()
    {
        Batching.Validate();
        Address();
        if (Port is < 0 or > 65535) throw Refused(nameof(Port), Port, "use 0-65535");
        if (MaxBodyBytes is < 1 || MaxBodyBytes > LargestBody)
        {
            // the bound in the setting's own unit, as a front end names it (bytes to the API, MiB to --max-body-mb: it said
            // "from 1 byte to 2146435072 bytes" to an option in MiB; review, session 48)
            string setting = SettingNames.Of(nameof(ServingOptions), nameof(MaxBodyBytes));
            long given = MaxBodyBytes;
            throw new InvalidSettingException(setting, n => $"{n.Given(setting, given)}: more than 0 and at most {n.Value(setting, LargestBody)} " +
                                                            "(a body is held in memory in one array, which .NET keeps under 2 GiB)");
        }
        const long most = ParNet.Data.ImageFolderDataset.MostDecodablePixels;
        if (MaxPixels is < 1 or > most)
            throw Refused(nameof(MaxPixels), MaxPixels, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"from 1 pixel to {most:N0} pixels (just under {Math.Ceiling(most / (1024.0 * 1024))} megapixels of 2^20, the most one decode can hold)"));
        if (MaxImagesPerRequest < 1) throw Refused(nameof(MaxImagesPerRequest), MaxImagesPerRequest, "must be >= 1");
        if (ConcurrentDecodes < 1) throw Refused(nameof(ConcurrentDecodes), ConcurrentDecodes, "must be >= 1");
        if (DefaultTop < 1) throw Refused(nameof(DefaultTop), DefaultTop, "must be >= 1");
        if (AllowedHosts is { Count: 0 }) throw Refused(nameof(AllowedHosts), "(none)", "at least one host name, or * for any");
        foreach (string host in AllowedHosts ?? [])
            if (HostProblem(host) is { } problem) throw Refused(nameof(AllowedHosts), host, problem);
    }

    /// <summary>Why an <see cref="AllowedHosts"/> entry can match no Host header: the filtering compares the name without its
    /// port, so `name:443` matched nothing and every request was 400 (review, session 48).</summary>
    static string? HostProblem(string host) =>
        host.Length == 0 || host.Any(c => c is '/' or ' ' or ',') ? "not a host name (e.g. models.example.org, *.example.org, localhost, or *)"
        : host.TrimStart('[').Contains(':') && !(host.StartsWith('[') && host.EndsWith(']'))
            ? "a name with a port, or an IPv6 address without brackets: give the name alone (any port is answered), an IPv6 address as [::1]"
            : null;

    static InvalidSettingException Refused(string member, object value, string problem) =>
        InvalidSettingException.Given(SettingNames.Of(nameof(ServingOptions), member), value, problem);
}

/// <summary>A failure the server answered for itself (<see cref="ServingOptions.OnFailure"/>): the request ("POST /v1/predict";
/// a batch's file: "POST /v1/predict/batch, file a.png"), the status it was answered with, and what was thrown.</summary>
public sealed record ServerFailure(string Request, int Status, Exception Exception);
