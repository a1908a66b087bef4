using System.Diagnostics;
using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.WebUtilities;
using ParNet.Data;
using ParNet.Inference;

namespace ParNet.Serving;

/// <summary>
/// The HTTP surface: POST /v1/predict (one image: a raw body with an image/* content type, or a multipart form of one
/// file), POST /v1/predict/batch (the files of a multipart form, each answered, refused or failed in its place), GET /healthz, GET /readyz and the web page
/// at /. Every refusal is JSON {"error": "..."}: 400 undecodable image or malformed multipart body, 413 body or pixel
/// count over the limit (a batch of more images than the queue holds too), 415 neither an image nor a multipart form, 503 with Retry-After for a full queue, a timeout or
/// a model still warming up, 503 without it for a model that failed its warm-up; 404 and 405 outside these endpoints (<see cref="StatusCodePage"/>).
/// </summary>
static partial class PredictionEndpoints
{
    public sealed record Context(ServedModel Model, MicroBatcher<ImageF, float[]> Batcher, ServingMetrics Metrics,
                                 ServingOptions Options, Func<bool> Ready, Func<string?> WarmupError)
    {
        public SemaphoreSlim Decodes { get; } = new(Options.ConcurrentDecodes);
    }

    /// <summary>A refusal with its HTTP status; the message is the JSON error. A 503 is answered with Retry-After unless
    /// <paramref name="retryHelps"/> is false (a model that failed its warm-up stays failed).</summary>
    sealed class Refusal(int status, string reason, string message, bool retryHelps = true) : Exception(message)
    {
        public int Status { get; } = status;
        public string Reason { get; } = reason;
        public bool RetryAfter { get; } = status == StatusCodes.Status503ServiceUnavailable && retryHelps;
    }

    /// <summary>Refusal reasons (parnet_rejected_total's label) that a batch answers per file.</summary>
    const string BadImage = "bad_image", TooLarge = "too_large";
    // a request with no image at all (an empty body, a form without a file) is a malformed request, not a bad image
    const string BadRequest = "bad_request";

    /// <summary>The status of a request whose client left before its answer (nginx's 499; no client sees it).</summary>
    const int StatusClientClosedRequest = 499;

    /// <summary>Seconds a client is told to wait after a 503: one, several batches' time on a small machine.</summary>
    const string RetryAfterSeconds = "1";

    public static void Map(IEndpointRouteBuilder app, Context context)
    {
        // GET and HEAD: load balancers and uptime checks probe with HEAD (MapGet answered it 405)
        string[] read = [HttpMethods.Get, HttpMethods.Head];
        app.MapMethods("/healthz", read, () => Results.Json(new { status = "alive" }));
        // the limits too, during the warm-up as well: the web page splits a selection of files into requests that fit them
        // (it sent them as one request, and 33 files or three of 9 MB were refused as a whole: an audit of serve)
        int maxImages = Math.Min(context.Options.MaxImagesPerRequest, context.Options.Batching.QueueCapacity);   // what one request can hold
        app.MapMethods("/readyz", read, () => context.Ready()
            ? Results.Json(new { status = "ready", model = context.Model.Description, max_images_per_request = maxImages, max_body_bytes = context.Options.MaxBodyBytes })
            : Results.Json(new
            {
                status = context.WarmupError() is { } error ? $"warm-up failed: {error}" : "warming up",
                max_images_per_request = maxImages, max_body_bytes = context.Options.MaxBodyBytes,
            }, statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapMethods("/", read, (HttpContext http) =>
        {
            http.Response.Headers.ContentSecurityPolicy = PagePolicy;
            return Results.Text(Page, "text/html; charset=utf-8");
        });
        // typed as returning the IResult: a plain lambda of HttpContext would bind as a RequestDelegate and drop it
        app.MapPost("/v1/predict", (Func<HttpContext, Task<IResult>>)(http => Handle(http, context, Single)));
        app.MapPost("/v1/predict/batch", (Func<HttpContext, Task<IResult>>)(http => Handle(http, context, Batch)));
    }

    /// <summary>
    /// The body of an error status that nothing else wrote one for (UseStatusCodePages): routing's 404 for an unknown
    /// path and 405 for a known path asked with another method (its Allow header names the methods), as JSON
    /// {"error": ...} like the endpoints' own refusals, which have a body already and are left alone.
    /// </summary>
    public static Task StatusCodePage(StatusCodeContext context)
    {
        var http = context.HttpContext;
        int status = http.Response.StatusCode;
        string request = $"{http.Request.Method} {http.Request.Path}";
        string error = status switch
        {
            StatusCodes.Status404NotFound => $"{request}: no such endpoint; this server answers {Endpoints}",
            StatusCodes.Status405MethodNotAllowed => $"{request}: method not allowed; this path takes {http.Response.Headers.Allow}",
            _ => $"{request}: {ReasonPhrases.GetReasonPhrase(status)}",
        };
        return Results.Json(new { error }, statusCode: status).ExecuteAsync(http);
    }

    public const string Endpoints = "POST /v1/predict, POST /v1/predict/batch, GET /healthz, GET /readyz, GET /metrics and GET /";

    static readonly string Page = ReadPage();

    /// <summary>
    /// The page's Content-Security-Policy: nothing from elsewhere; its own inline script and style by their hashes (so an
    /// injected script or style would not run), its preview from a blob: URL, its icon a data: URL, its requests to this
    /// server only, and no page may frame it (clickjacking).
    /// </summary>
    static readonly string PagePolicy =
        $"default-src 'none'; script-src '{InlineHash("script")}'; style-src '{InlineHash("style")}'; img-src blob: data:; " +
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    /// <summary>"sha256-..." of the page's one inline &lt;script&gt; or &lt;style&gt; element's text, as CSP hashes it.</summary>
    static string InlineHash(string element)
    {
        int start = Page.IndexOf($"<{element}>", StringComparison.Ordinal) + element.Length + 2, end = Page.IndexOf($"</{element}>", start, StringComparison.Ordinal);
        if (start < element.Length + 2 || end < 0) throw new InvalidOperationException($"the web page has no <{element}> element");
        return "sha256-" + Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Page[start..end])));
    }

    static string ReadPage()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("ParNet.Serving.index.html")
            ?? throw new InvalidOperationException("the web page resource is missing from the assembly");
        return new StreamReader(stream).ReadToEnd();
    }

    static async Task<IResult> Handle(HttpContext http, Context context, Func<HttpContext, Context, long, Task<object>> answer)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            if (context.WarmupError() is { } error)   // for good: no Retry-After, its own reason
                throw new Refusal(StatusCodes.Status503ServiceUnavailable, "warmup_failed", $"the model failed its warm-up ({error}); this server cannot answer", retryHelps: false);
            if (!context.Ready())
                throw new Refusal(StatusCodes.Status503ServiceUnavailable, "not_ready", "the model is still warming up; retry shortly");
            return Results.Json(await answer(http, context, start));
        }
        catch (Refusal r)
        {
            context.Metrics.Rejected(r.Reason);
            if (r.RetryAfter) http.Response.Headers.RetryAfter = RetryAfterSeconds;
            return Results.Json(new { error = r.Message }, statusCode: r.Status);
        }
        catch (Exception e) when (e is ClientLeft || e is OperationCanceledException or IOException && http.RequestAborted.IsCancellationRequested)
        {
            // the client left (cancelled, or its connection closed or reset while we read); nobody reads an answer. Its status is
            // what /metrics counts the request under: 499, nginx's "client closed request", not the 200 it never got
            http.Response.StatusCode = StatusClientClosedRequest;
            return Results.Empty;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // the model failed on a valid input: a bug or a resource problem, reported, and the server keeps serving
            context.Metrics.InferenceFailed();
            context.Options.OnFailure?.Invoke(new ServerFailure(RequestLine(http), StatusCodes.Status500InternalServerError, e));
            return Results.Json(new { error = FailedInferenceError(e) }, statusCode: StatusCodes.Status500InternalServerError);
        }
    }

    static async Task<object> Single(HttpContext http, Context context, long start)
    {
        var (bytes, name) = await ReadSingleAsync(http.Request, context.Options);
        int top = Top(http.Request, context);
        var image = await DecodeAsync(bytes, name, context, http.RequestAborted);
        var probabilities = await SubmitAsync(image, context, http.RequestAborted);
        return new { top = TopJson(probabilities, top, context.Model.ClassNames), server_ms = Milliseconds(start) };
    }

    static async Task<object> Batch(HttpContext http, Context context, long start)
    {
        var files = await ReadFormFilesAsync(http.Request, context.Options);
        if (files.Count == 0)
            throw new Refusal(StatusCodes.Status400BadRequest, BadRequest, $"no file in the multipart form: {SendImagesAs}");
        if (files.Count > context.Options.MaxImagesPerRequest)
            throw new Refusal(StatusCodes.Status413PayloadTooLarge, TooLarge,
                $"{files.Count} images; at most {context.Options.MaxImagesPerRequest} per request");
        // each image is a queue entry: more than the whole queue holds could never be accepted, however long the client waits
        if (files.Count > context.Options.Batching.QueueCapacity)
            throw new Refusal(StatusCodes.Status413PayloadTooLarge, TooLarge,
                $"{files.Count} images; this server queues at most {context.Options.Batching.QueueCapacity} images at once " +
                "(its queue capacity): send them in smaller requests");
        int top = Top(http.Request, context);
        // a refusal of one image (a full queue, a timeout, a stopping server) refuses the request: its other images are
        // withdrawn at once, so the model does not run them for nobody and the client hears now, not when they are done
        using var withdraw = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var tasks = files.Select(f => AnswerFileAsync(f.Bytes, f.Name, top, context, withdraw, RequestLine(http))).ToList();
        try { await Task.WhenAll(tasks); }
        catch when (tasks.Any(t => t.Exception?.InnerException is Refusal))
        {
            throw tasks.Select(t => t.Exception?.InnerException).OfType<Refusal>().First();
        }
        var answers = tasks.Select(t => t.Result).ToArray();
        // counted once the batch is answered: a file's refusal that the client never saw (the request as a whole got a 503
        // from a later file) is not counted beside the request's own
        foreach (var reason in answers.Select(a => a.Refused).OfType<string>()) context.Metrics.Rejected(reason);
        foreach (var _ in answers.Where(a => a.InferenceFailed)) context.Metrics.InferenceFailed();
        return new { results = answers.Select(a => a.Answer).ToArray(), server_ms = Milliseconds(start) };
    }

    /// <summary>One file of a batch: its classes, or, for an image that cannot be decoded or declares too many pixels, its
    /// error in its place and the refusal's reason, so that one bad file does not cost the others their answers (as
    /// `parnet predict` goes on past a bad file); so too an output that is not finite, an "inference failed" in its place
    /// (it failed the whole request with a 500: a left item of session 46). A full queue, a timeout or a stopping server
    /// still refuse the whole request.</summary>
    static async Task<(object Answer, string? Refused, bool InferenceFailed)> AnswerFileAsync(byte[] bytes, string name, int top, Context context,
                                                                                             CancellationTokenSource withdraw, string request)
    {
        ImageF image;
        try { image = await DecodeAsync(bytes, name, context, withdraw.Token); }
        catch (Refusal r) when (r.Reason is BadImage or TooLarge)
        {
            return (new { file = name, error = r.Message }, r.Reason, false);
        }
        float[] probabilities;
        try { probabilities = await SubmitAsync(image, context, withdraw.Token); }
        catch (Refusal)
        {
            withdraw.Cancel();   // the request is refused as a whole: its other images leave the queue
            throw;
        }
        try { return (new { file = name, top = TopJson(probabilities, top, context.Model.ClassNames) }, null, false); }
        catch (InvalidDataException e)
        {
            context.Options.OnFailure?.Invoke(new ServerFailure($"{request}, file {name}", StatusCodes.Status200OK, e));
            return (new { file = name, error = FailedInferenceError(e) }, null, true);
        }
    }

    /// <summary>How a failure report names a request: "POST /v1/predict".</summary>
    public static string RequestLine(HttpContext http) => $"{http.Request.Method} {http.Request.Path}";

    /// <summary>The error of an image whose inference failed: a single image's 500, a batch file's entry.</summary>
    static string FailedInferenceError(Exception e) => $"inference failed: {e.Message}";

    static int Top(HttpRequest request, Context context)
    {
        if (!request.Query.TryGetValue("top", out var value)) return Math.Min(context.Options.DefaultTop, context.Model.ClassNames.Count);
        // any positive integer, past int's range too (top=99999999999 asks for every class, as top=11 does of 10)
        if (!System.Numerics.BigInteger.TryParse(value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var top) || top < 1)
            throw new Refusal(StatusCodes.Status400BadRequest, BadRequest, $"top={value}: give a positive integer");
        return (int)System.Numerics.BigInteger.Min(top, context.Model.ClassNames.Count);
    }

    static async Task<ImageF> DecodeAsync(byte[] bytes, string name, Context context, CancellationToken cancel)
    {
        await context.Decodes.WaitAsync(cancel);
        try
        {
            if (ImageFolderDataset.DeclaredPixels(bytes) is long pixels && pixels > context.Options.MaxPixels)
                throw new Refusal(StatusCodes.Status413PayloadTooLarge, TooLarge,
                    $"{name} declares {pixels:N0} pixels, more than the limit of {context.Options.MaxPixels:N0} (a decompression bomb?)");
            return context.Model.Preprocess(bytes, name, context.Options.MaxPixels);
        }
        catch (InvalidDataException e) { throw new Refusal(StatusCodes.Status400BadRequest, BadImage, e.Message); }
        finally { context.Decodes.Release(); }
    }

    static async Task<float[]> SubmitAsync(ImageF image, Context context, CancellationToken cancel)
    {
        try { return await context.Batcher.SubmitAsync(image, cancel); }
        catch (QueueFullException e) { throw new Refusal(StatusCodes.Status503ServiceUnavailable, "queue_full", e.Message); }
        catch (TimeoutException e) { throw new Refusal(StatusCodes.Status503ServiceUnavailable, "timeout", e.Message); }
        catch (BatcherStoppingException e) { throw new Refusal(StatusCodes.Status503ServiceUnavailable, "stopping", e.Message); }
    }

    /// <summary>The JSON of a prediction's best classes: {"class", "name", "probability"} each. An output that is not finite is
    /// refused here (an "inference failed" 500): no JSON carries NaN, whose serialization failed after the status was sent.</summary>
    static object[] TopJson(float[] probabilities, int top, IReadOnlyList<string> names) => TopClasses.Of(probabilities, top, names)
        .Select(c => (object)new { @class = c.Class, name = c.Name, probability = c.Probability })
        .ToArray();

    static double Milliseconds(long start) => Math.Round(Stopwatch.GetElapsedTime(start).TotalMilliseconds, 3);
}
