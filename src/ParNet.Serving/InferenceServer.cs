using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ParNet.Data;
using Prometheus;

namespace ParNet.Serving;

/// <summary>
/// `parnet serve`: one <see cref="ServedModel"/> behind Kestrel, requests grouped by a <see cref="MicroBatcher{TIn, TOut}"/>
/// (one worker per model instance). Listens as soon as it starts; ready (GET /readyz) once every instance has run a
/// warm-up batch. <see cref="StopAsync"/>, or SIGTERM and Ctrl+C where <see cref="ServingOptions.StopOnSignals"/> (the host's
/// console lifetime; `parnet serve`), stops it gracefully:
/// no new connections, requests in flight answered, then the workers finish and the model is released.
/// </summary>
public sealed class InferenceServer : IAsyncDisposable
{
    readonly WebApplication _app;
    readonly MicroBatcher<ImageF, float[]> _batcher;
    readonly ServedModel _model;
    readonly Task _warmup;
    readonly CancellationToken _stopping;
    volatile string? _warmupError;
    volatile bool _ready;
    TimeSpan _slowestWarmupBatch;
    int _disposed;
    readonly StopLedger _ledger;

    InferenceServer(WebApplication app, MicroBatcher<ImageF, float[]> batcher, ServedModel model, ServingOptions options, Uri address,
                    StopLedger ledger)
    {
        _ledger = ledger;
        _app = app;
        _batcher = batcher;
        _model = model;
        Options = options;
        Address = address;
        _stopping = app.Lifetime.ApplicationStopping;   // taken now: the warm-up may still run once the app is disposed
        _warmup = Task.Factory.StartNew(WarmUp, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    public ServingOptions Options { get; }
    /// <summary>The address it listens on (the actual port when <see cref="ServingOptions.Port"/> was 0).</summary>
    public Uri Address { get; }
    /// <summary>Every model instance loaded and warmed up.</summary>
    public bool Ready => _ready;
    /// <summary>
    /// The longest any instance took for its warm-up batch of <see cref="MicroBatcherOptions.MaxBatch"/> images, read once
    /// <see cref="Ready"/>: a batch that takes as long as <see cref="MicroBatcherOptions.Timeout"/> makes an image queued
    /// behind it time out. An estimate from above: that batch is the first of its shape (allocations, the engine's first-call set-up).
    /// </summary>
    public TimeSpan SlowestWarmupBatch => _slowestWarmupBatch;
    /// <summary>Why the warm-up failed; null while it runs, when it succeeded, and when a shutdown cut it short.</summary>
    public string? WarmupError => _warmupError;
    /// <summary>Completes when the warm-up has ended: <see cref="Ready"/>, <see cref="WarmupError"/>, or neither when the server
    /// was asked to stop first (it stops between warm-up batches; a batch already running finishes); never faults.</summary>
    public Task WarmupEnded => _warmup;
    /// <summary>Images accepted and not yet answered.</summary>
    public int InFlight => _batcher.InFlight;
    /// <summary>Cancelled when the server is asked to stop (<see cref="StopAsync"/>; SIGTERM, Ctrl+C with <see cref="ServingOptions.StopOnSignals"/>): from then on it takes
    /// no new connection and answers the requests in flight, for up to <see cref="ServingOptions.ShutdownTimeout"/>.</summary>
    public CancellationToken Stopping => _stopping;
    /// <summary>Requests that were in flight when the server was asked to stop and ended unanswered: still open at the
    /// shutdown timeout (a stalled upload), or their client went away; fixed once the stop has ended.</summary>
    public int RequestsCutOff => _ledger.CutOff;

    /// <summary>Counts the requests a stop leaves unanswered: those that end aborted, or with an exception, once stopping has
    /// begun, and those still running when the stop has ended (their connections aborted; they may unwind later).</summary>
    sealed class StopLedger(CancellationToken stopping)
    {
        int _open, _cutOff, _settled = -1;

        /// <summary>The count, fixed once the stop has ended (<see cref="Settle"/>).</summary>
        public int CutOff => Volatile.Read(ref _settled) is >= 0 and var settled ? settled : Volatile.Read(ref _cutOff);

        /// <summary>After the host's stop: the requests ended unanswered and those still running, counted once.</summary>
        public void Settle() => Interlocked.CompareExchange(ref _settled, Volatile.Read(ref _cutOff) + Volatile.Read(ref _open), -1);

        public async Task Track(HttpContext context, RequestDelegate next)
        {
            Interlocked.Increment(ref _open);
            bool escaped = false;
            try { await next(context).ConfigureAwait(false); }
            catch
            {
                escaped = true;   // the shutdown's abort can surface as an exception before RequestAborted is set
                throw;
            }
            finally
            {
                if (stopping.IsCancellationRequested && (escaped || context.RequestAborted.IsCancellationRequested)) Interlocked.Increment(ref _cutOff);
                Interlocked.Decrement(ref _open);
            }
        }
    }

    /// <summary>
    /// Starts listening; takes ownership of <paramref name="model"/>. IOException when the address cannot be bound,
    /// ArgumentException for invalid options and for a max batch that cannot fit in memory (<see cref="ServedModel.CheckBatchFits"/>).
    /// </summary>
    public static async Task<InferenceServer> StartAsync(ServedModel model, ServingOptions options, CancellationToken cancel = default)
    {
        try
        {
            options.Validate();
            model.CheckBatchFits(options.Batching.MaxBatch);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        MicroBatcher<ImageF, float[]>? batcher = null;
        var metrics = new ServingMetrics(options.Batching.MaxBatch, () => batcher?.QueueDepth ?? 0, () => batcher?.InFlight ?? 0);
        batcher = new MicroBatcher<ImageF, float[]>(options.Batching,
            model.Instances.Select(i => (Func<IReadOnlyList<ImageF>, IReadOnlyList<float[]>>)i.Probabilities).ToList(), metrics.Batch);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(InferenceServer).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();   // the library prints nothing; the CLI reports
        if (!options.StopOnSignals) builder.Services.AddSingleton<IHostLifetime, SignalsLeftAlone>();
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
        builder.WebHost.UseKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            // "localhost" is both loopbacks, 127.0.0.1 and ::1, as a browser or curl resolves it; Kestrel cannot ask
            // the system for one free port on both, so port 0 (tests) takes 127.0.0.1 alone
            if (options.Host == "localhost" && options.Port != 0) k.ListenLocalhost(options.Port);
            else k.Listen(new IPEndPoint(options.Address(), options.Port));
        });
        var allowedHosts = RequestGuards.AllowedHosts(options);
        // the slim builder already puts ASP.NET Core's host filtering first in the pipeline (a startup filter, every Host
        // allowed unless configured): given the names here, it answers others 400 with its short HTML page, before the app
        if (allowedHosts is not null) builder.Services.Configure<Microsoft.AspNetCore.HostFiltering.HostFilteringOptions>(h => h.AllowedHosts = allowedHosts);
        builder.Services.Configure<Microsoft.AspNetCore.Http.Features.FormOptions>(f =>
        {
            f.MultipartBodyLengthLimit = options.MaxBodyBytes;
            f.ValueCountLimit = options.MaxImagesPerRequest + 16;   // the images and a few plain fields
        });

        var app = builder.Build();
        var server = default(InferenceServer);
        var ledger = new StopLedger(app.Lifetime.ApplicationStopping);
        app.Use(ledger.Track);   // first: it sees every request end, whatever answered it
        app.Use((http, next) => RequestGuards.ReportUnhandled(http, next, options));
        app.Use(RequestGuards.AddNoSniff);
        app.UseStatusCodePages(PredictionEndpoints.StatusCodePage);   // 404, 405: JSON as every other refusal
        app.Use((http, next) => RequestGuards.RefuseUnknownMethods(http, next, metrics));   // before the HTTP metrics: their method label stays bounded
        app.UseRouting();
        app.UseHttpMetrics(metrics.ConfigureHttp);
        PredictionEndpoints.Map(app, new PredictionEndpoints.Context(model, batcher, metrics, options, () => server?.Ready ?? false,   // a request before the server object exists (Kestrel listens first): not ready yet
                                                                     () => server?.WarmupError));
        app.MapMetrics("/metrics", metrics.Registry).WithMetadata(new HttpMethodMetadata(["GET", "HEAD"]));   // POST: 405, as elsewhere
        try { await app.StartAsync(cancel).ConfigureAwait(false); }
        catch (Exception e)
        {
            await batcher.DisposeAsync().ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
            model.Dispose();
            // Kestrel wraps "address in use" in an IOException ("Failed to bind to address http://...") over an
            // AddressInUseException over the SocketException, but lets others through bare, such as an address this machine does not have (EADDRNOTAVAIL): both are the user's address, said alike
            if (SocketErrorIn(e) is { } socket)
                throw new IOException($"cannot listen on {options.Host} port {options.Port}: {socket.Message}", socket);
            throw;
        }
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server = new InferenceServer(app, batcher, model, options, new Uri(bound), ledger);
        return server;
    }

    /// <summary>The socket error under Kestrel's wrappings (IOException, then AddressInUseException), or null.</summary>
    static System.Net.Sockets.SocketException? SocketErrorIn(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is System.Net.Sockets.SocketException socket) return socket;
        return null;
    }

    /// <summary>An 8x8 grey PNG: the warm-up goes the whole way a request goes (decode, preprocessing, the model).</summary>
    static readonly byte[] WarmupPng =
    [
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x08,
        0x00, 0x00, 0x00, 0x08, 0x08, 0x02, 0x00, 0x00, 0x00, 0x4B, 0x6D, 0x29, 0xDC, 0x00, 0x00, 0x00, 0x0F, 0x49, 0x44, 0x41,
        0x54, 0x78, 0xDA, 0x63, 0x68, 0xC0, 0x01, 0x18, 0x86, 0x96, 0x04, 0x00, 0x82, 0xF3, 0x60, 0x01, 0x25, 0x95, 0xB3, 0x63,
        0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    const long WarmupPixels = 8 * 8;

    void WarmUp()
    {
        try
        {
            // the server's own image, not an upload: a pixel limit under its 64 pixels (allowed from one pixel) failed the
            // warm-up as a "decompression bomb" and serve exited (an audit of serve, session 45)
            var image = _model.Preprocess(WarmupPng, "the warm-up image", Math.Max(Options.MaxPixels, WarmupPixels));
            // a single image and a full batch: the two shapes a worker sees most, allocated once before traffic
            int[] sizes = Options.Batching.MaxBatch > 1 ? [1, Options.Batching.MaxBatch] : [1];
            foreach (var instance in _model.Instances)
                foreach (int size in sizes)
                {
                    if (_stopping.IsCancellationRequested) return;   // SIGTERM, Ctrl+C, StopAsync: no more warm-up batches
                    long start = System.Diagnostics.Stopwatch.GetTimestamp();
                    var answers = instance.Probabilities(Enumerable.Repeat(image, size).ToList());
                    var took = System.Diagnostics.Stopwatch.GetElapsedTime(start);
                    if (size == sizes[^1] && took > _slowestWarmupBatch) _slowestWarmupBatch = took;   // written before _ready, read after it
                    // NaN or infinite weights answer every request with NaN, which no JSON can carry: found here, not per request
                    if (!answers.All(a => a.All(float.IsFinite)))
                        throw new InvalidDataException("the model's outputs for the warm-up image are not finite (NaN or infinity): its weights hold such values, or overflow");
                }
            if (!_stopping.IsCancellationRequested) _ready = true;   // a stop during the last batch: not "ready" after "stopping"
        }
        catch (Exception e) { _warmupError = $"{e.GetType().Name}: {e.Message}"; }
    }

    /// <summary>Completes when the server has been asked to stop (<see cref="StopAsync"/>; SIGTERM, Ctrl+C with <see cref="ServingOptions.StopOnSignals"/>) and has stopped.</summary>
    public async Task WaitForShutdownAsync()
    {
        await _app.WaitForShutdownAsync().ConfigureAwait(false);
        _ledger.Settle();
    }

    /// <summary>Stops accepting connections and waits (up to the shutdown timeout) for requests in flight.</summary>
    public async Task StopAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        _ledger.Settle();
    }

    /// <summary>Stops if still running, lets the workers finish, and releases the model.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _app.StopAsync().ConfigureAwait(false);
        _ledger.Settle();
        await _app.DisposeAsync().ConfigureAwait(false);
        await _batcher.DisposeAsync().ConfigureAwait(false);
        await _warmup.ConfigureAwait(false);
        _model.Dispose();
    }

    /// <summary>A host lifetime that registers no signal handler: the program's Ctrl+C and SIGTERM stay its own.</summary>
    sealed class SignalsLeftAlone : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
