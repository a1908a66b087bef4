using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;

namespace ParNet.Serving;

/// <summary>
/// How the endpoints read a request's images: a raw image body or the files of a multipart form, within the body limit,
/// every client fault (a wrong content type, a body over a limit, a malformed form) a <see cref="Refusal"/>.
/// </summary>
static partial class PredictionEndpoints
{
    /// <summary>What /v1/predict reads: a raw image body, or the one file (any field name) of a multipart form.</summary>
    const string SendImageAs = "send the image as the raw body with an image content type (image/png, image/jpeg, ...; " +
        "curl -H \"Content-Type: image/png\" --data-binary @photo.png) or as a file of a multipart/form-data form " +
        "(any field name; curl -F image=@photo.png)";

    /// <summary>What /v1/predict/batch reads: every file (any field name) of a multipart form, in order.</summary>
    const string SendImagesAs = "send the images as files of a multipart/form-data form (any field name; " +
        "curl -F image=@a.png -F image=@b.png)";

    /// <summary>
    /// multipart/form-data: the only form that carries files. (HasFormContentType is also true of
    /// application/x-www-form-urlencoded, curl's default for -d and --data-binary, whose body is never an image.)
    /// </summary>
    static bool IsMultipart(HttpRequest request) =>
        request.GetTypedHeaders().ContentType?.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase) == true;

    static async Task<(byte[] Bytes, string Name)> ReadSingleAsync(HttpRequest request, ServingOptions options)
    {
        if (IsMultipart(request))
        {
            var files = await ReadFormFilesAsync(request, options);
            if (files.Count == 0) throw new Refusal(StatusCodes.Status400BadRequest, BadRequest, $"no file in the multipart form: {SendImageAs}");
            // the first was answered and the others dropped without a word (an audit of serve)
            if (files.Count > 1)
                throw new Refusal(StatusCodes.Status400BadRequest, BadRequest, $"{files.Count} files in the multipart form; this endpoint takes one image: POST several to /v1/predict/batch");
            return files[0];
        }
        string? type = request.ContentType;
        if (type is null || !type.StartsWith("image/", StringComparison.OrdinalIgnoreCase))
            throw new Refusal(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", $"content type {type ?? "(none)"}: {SendImageAs}");
        CheckLength(request, options);
        using var body = new MemoryStream();
        await ReadLimitedAsync(request, options, () => request.Body.CopyToAsync(body, request.HttpContext.RequestAborted));
        if (body.Length == 0) throw new Refusal(StatusCodes.Status400BadRequest, BadRequest, "empty body: no image");
        return (body.ToArray(), "the image");
    }

    static async Task<List<(byte[] Bytes, string Name)>> ReadFormFilesAsync(HttpRequest request, ServingOptions options)
    {
        if (!IsMultipart(request))
            throw new Refusal(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type",
                $"content type {request.ContentType ?? "(none)"}: {SendImagesAs}");
        CheckLength(request, options);
        IFormCollection form = null!;
        await ReadLimitedAsync(request, options, async () => form = await request.ReadFormAsync(request.HttpContext.RequestAborted));
        var files = new List<(byte[], string)>();
        foreach (var file in form.Files)
        {
            using var stream = new MemoryStream();
            await file.CopyToAsync(stream, request.HttpContext.RequestAborted);
            files.Add((stream.ToArray(), string.IsNullOrEmpty(file.FileName) ? file.Name : BrowserFileName(file.FileName)));
        }
        // a part without a filename is a text field to ASP.NET Core's form reader, its bytes decoded as text: say so, not
        // "no file" (.NET's MultipartFormDataContent.Add(content, "image") sends one)
        if (files.Count == 0 && form.Count > 0)
            throw new Refusal(StatusCodes.Status400BadRequest, BadRequest,
                $"the multipart form has the field{(form.Count > 1 ? "s" : "")} {string.Join(", ", form.Keys)} but no file: a part is a file " +
                "when its Content-Disposition gives a filename (curl -F image=@photo.png; .NET: MultipartFormDataContent.Add(content, \"image\", \"photo.png\"))");
        return files;
    }

    /// <summary>A form's file name as the user named the file: browsers write " in it as %22 (the HTML standard's
    /// multipart/form-data encoding, which also writes CR and LF as %0D and %0A), and the page showed `a%22b.png` for a"b.png
    /// (an audit of serve). The quote only: a name with a line break in it is left encoded, so that it cannot break a line of
    /// serve's log (review, session 48); any other % is the name's own.</summary>
    internal static string BrowserFileName(string name) => name.Replace("%22", "\"", StringComparison.Ordinal);

    static void CheckLength(HttpRequest request, ServingOptions options)
    {
        if (request.ContentLength > options.MaxBodyBytes)
            throw new Refusal(StatusCodes.Status413PayloadTooLarge, TooLarge,
                $"body of {request.ContentLength} bytes; the limit is {options.MaxBodyBytes}");
    }

    /// <summary>
    /// Reads the body, mapping the client's faults to refusals: Kestrel's body limit and bad framing surface as
    /// BadHttpRequestException (413 or 400); a form over one of <see cref="FormOptions"/>' limits (more parts than
    /// FormOptions.ValueCountLimit, a part or header too long) as InvalidDataException "... limit N exceeded." (413);
    /// a malformed multipart body as another InvalidDataException (a missing boundary, a bad Content-Disposition) or as
    /// a plain IOException thrown by ASP.NET Core's multipart reader ("Unexpected end of Stream": the body ended before
    /// its closing boundary) (400). The client going away mid-upload is <see cref="ClientLeft"/> (<see cref="Handle"/>
    /// answers nobody, 499), or RequestAborted's cancellation where Kestrel had set it. Left alone: IOExceptions from
    /// anywhere else, such as the disk under the temporary files a large form is buffered to, which are the server's faults (500).
    /// </summary>
    static async Task ReadLimitedAsync(HttpRequest request, ServingOptions options, Func<Task> read)
    {
        try { await read(); }
        // a reset connection (Kestrel's socket transport); RequestAborted is not always set yet when it arrives, so the
        // 499 of Handle missed it and it was a 500 (an audit of serve, session 45)
        catch (ConnectionResetException) { throw new ClientLeft(); }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status400BadRequest && LeftMidBody(request, e))
        {
            throw new ClientLeft();
        }
        catch (BadHttpRequestException e)   // an IOException: before the catch below
        {
            throw e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? new Refusal(e.StatusCode, TooLarge, $"request body over the limit ({e.Message})")
                : new Refusal(e.StatusCode, BadRequest, e.Message);
        }
        catch (InvalidDataException e) when (e.Message.Contains(" limit ", StringComparison.Ordinal) && e.Message.Contains("exceeded"))
        {
            // the images hint only where the limit is the parts' count ("Form value count limit N exceeded."), not a header's length
            string hint = e.Message.Contains("value count", StringComparison.OrdinalIgnoreCase)
                ? $" (this server takes at most {options.MaxImagesPerRequest} images per request)" : "";
            throw new Refusal(StatusCodes.Status413PayloadTooLarge, TooLarge, $"multipart form over a limit: {e.Message}{hint}");
        }
        catch (InvalidDataException e) { throw MalformedMultipart(e.Message); }
        catch (IOException e) when (e.GetType() == typeof(IOException) && e.Source == MultipartReaderAssembly
                                    && !request.HttpContext.RequestAborted.IsCancellationRequested)
        {
            throw MalformedMultipart($"it ends before its closing boundary ({e.Message.TrimEnd()})");
        }
    }

    /// <summary>
    /// Whether Kestrel's 400 while reading the body says the body ended early because its connection closed (a client that
    /// left; a reset arrived so too in our runs on Linux loopback, never as a <see cref="ConnectionResetException"/>), not a framing fault.
    /// With Content-Length framing nothing else ends a body early, and RequestAborted is not always set by then: it was
    /// counted 400 bad_request (an audit of serve, session 45). A chunked body cut off and malformed chunked framing differ
    /// only in Kestrel's message (its rejection reason is internal), so for chunked framing the message decides.
    /// </summary>
    static bool LeftMidBody(HttpRequest request, BadHttpRequestException e) =>
        request.Headers.TransferEncoding.Count == 0
            ? request.ContentLength is not null
            : e.Message.StartsWith("Unexpected end of request content", StringComparison.Ordinal);

    /// <summary>The client went away while its request was read: nobody hears an answer (<see cref="Handle"/>: 499).</summary>
    sealed class ClientLeft() : Exception("the client closed its connection during its upload");

    /// <summary>The assembly of ASP.NET Core's MultipartReader, which throws a plain IOException at a premature end of the body.</summary>
    static readonly string? MultipartReaderAssembly = typeof(MultipartReader).Assembly.GetName().Name;

    static Refusal MalformedMultipart(string why) => new(StatusCodes.Status400BadRequest, BadRequest, $"malformed multipart body: {why}");
}
