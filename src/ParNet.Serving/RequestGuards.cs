using System.Net;
using Microsoft.AspNetCore.Http;

namespace ParNet.Serving;

/// <summary>What the server checks of every request before routing and the HTTP metrics see it.</summary>
static class RequestGuards
{
    /// <summary>The methods of HTTP (RFC 9110, and PATCH): routing answers them (405 with Allow where a path takes others).</summary>
    static readonly HashSet<string> KnownMethods = new(StringComparer.Ordinal)
    {
        HttpMethods.Get, HttpMethods.Head, HttpMethods.Post, HttpMethods.Put, HttpMethods.Delete, HttpMethods.Patch,
        HttpMethods.Options, HttpMethods.Trace, HttpMethods.Connect,
    };

    /// <summary>
    /// The Host names a server bound to a loopback address answers to, any port: what a browser or curl on this machine sends.
    /// Another name (the attacker.example of a DNS rebinding attack, which makes a page on the web talk to a loopback
    /// server as its own origin and read the answers) gets 400 from ASP.NET Core's host filtering, which does exactly this
    /// check and which the slim builder already runs ahead of everything (its answer is a short HTML page, not JSON). A server bound to a public or wildcard address is reached by names it cannot know (its DNS names, a proxy's):
    /// null, every Host taken. <see cref="ServingOptions.AllowedHosts"/>, where given, is the list.
    /// </summary>
    public static string[]? AllowedHosts(ServingOptions options) => options.AllowedHosts?.ToArray()
        ?? (options.Address() is var address && IPAddress.IsLoopback(address)
            // and the address itself: all of 127.0.0.0/8 is loopback, and `--host 127.0.0.2` refused its own (review, session 48)
            ? ["localhost", "127.0.0.1", "[::1]", .. address.ToString() is var own && own is not ("127.0.0.1" or "::1")
                  ? [address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{own}]" : own] : Array.Empty<string>()]
            : null);

    /// <summary>nosniff on every answer: a browser takes a JSON error or a prediction for nothing but what its content type says.</summary>
    public static Task AddNoSniff(HttpContext http, RequestDelegate next)
    {
        http.Response.Headers.XContentTypeOptions = "nosniff";
        return next(http);
    }

    /// <summary>
    /// Reports (<see cref="ServingOptions.OnFailure"/>) an exception that escapes the endpoints, which ASP.NET Core answers
    /// with an empty 500 and, its logging cleared (the library prints nothing), told no one of. A request whose client left
    /// is no failure of the server's.
    /// </summary>
    public static async Task ReportUnhandled(HttpContext http, RequestDelegate next, ServingOptions options)
    {
        try { await next(http); }
        catch (Exception e) when (!http.RequestAborted.IsCancellationRequested && options.OnFailure is { } report)
        {
            report(new ServerFailure(PredictionEndpoints.RequestLine(http), StatusCodes.Status500InternalServerError, e));
            throw;
        }
    }

    /// <summary>
    /// Answers a method outside <see cref="KnownMethods"/> with 501 (RFC 9110: a method the server does not recognise)
    /// before the HTTP metrics middleware, whose method label would otherwise take any string a client sends: a hundred
    /// made-up methods grew /metrics from ~370 to 2,554 lines, for good (an audit of serve). Counted in
    /// parnet_rejected_total{reason="unknown_method"}, one series whatever the methods.
    /// </summary>
    public static async Task RefuseUnknownMethods(HttpContext http, RequestDelegate next, ServingMetrics metrics)
    {
        if (KnownMethods.Contains(http.Request.Method))
        {
            await next(http);
            return;
        }
        metrics.Rejected(ServingMetrics.UnknownMethod);
        string error = $"{http.Request.Method} {http.Request.Path}: method not implemented; this server answers {PredictionEndpoints.Endpoints}";
        await Results.Json(new { error }, statusCode: StatusCodes.Status501NotImplemented).ExecuteAsync(http);
    }
}
