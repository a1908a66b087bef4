using System.CommandLine;
using ParNet.Export;
using ParNet.Inference;
using ParNet.Serving;

namespace ParNet.Cli;

/// <summary>`parnet serve`: the model behind an HTTP endpoint (src/ParNet.Serving), until SIGTERM or Ctrl+C.</summary>
public sealed class ServeCommand : CliCommand
{
    /// <summary>What the help states as defaults: the library's, so that help and behaviour cannot disagree.</summary>
    static readonly ServingOptions Defaults = new();

    readonly ModelOptions _model = new();
    readonly Option<string> _weights = new("--weights")
    {
        Description = WeightsLoading.Description + ", or an exported .onnx; class names and preprocessing come from the metadata " +
                      "stored with them (sidecar W.json, safetensors metadata, a training checkpoint's state.json), as for predict. Without " +
                      "--weights, --model/--config is served randomly initialized (for load tests: meaningless answers, real speed)",
        HelpName = "W",
    };
    readonly Option<string?> _engine = CliOption.Text("--engine", PredictorLoading.EngineDescription, "ENGINE");
    readonly Option<bool> _fused = WeightsLoading.FusedOption();
    readonly Option<bool> _unfused = WeightsLoading.UnfusedOption();
    readonly Option<bool> _ema = WeightsLoading.EmaOption();
    readonly Option<string?> _dataset = CliOption.Text("--dataset", WeightsLoading.DatasetChoices + ": class names and " +
        "preprocessing, as for predict (default: what is stored with the weights; otherwise ImageNet statistics and \"class i\"); " +
        "e.g. the authors' released ImageNet checkpoints, which store no class names", "NAME");
    readonly Option<int?> _imageSize = CliOption.Int("--image-size", $"input side in pixels, as predict's (default: {CliOption.StoredSide})", "PX");
    readonly Option<string?> _host = CliOption.Text("--host", $"address to listen on (default {Defaults.Host}: IPv4 loopback; localhost for 127.0.0.1 and ::1 (127.0.0.1 alone with --port 0); 0.0.0.0 for every IPv4 interface, :: for every interface)", "ADDRESS");
    readonly Option<string?> _allowedHosts = CliOption.Text("--allowed-hosts", "comma-separated Host names answered (a name, *.example.org, " +
        "or * for any; others get 400). Default: localhost, 127.0.0.1 and [::1] on a loopback address, against DNS rebinding; any on " +
        "another. A reverse proxy here that forwards its own Host to a loopback server names it", "HOSTS");
    readonly Option<int?> _port = CliOption.Int("--port", $"TCP port (default {Defaults.Port}; 0: any free port, printed at start)");
    readonly Option<int?> _maxBatch = CliOption.Int("--max-batch",
        $"images per inference call, at most (default {Defaults.Batching.MaxBatch}; 1 turns micro-batching off); a value whose batch cannot fit in memory is refused at start");
    readonly Option<double?> _maxWait = CliOption.Number("--max-wait-ms", $"longest a request waits for others to join its batch (default {Defaults.Batching.MaxWait.TotalMilliseconds})", "MS");
    readonly Option<int?> _workers = CliOption.Int("--workers",
        "model instances, each answering batches on its own thread (default 1: one forward already uses every core; more instances share them; " +
        "train's --workers are data loader threads)");
    readonly Option<int?> _threads = PredictorLoading.ThreadsOption(
        "; on a machine shared with other work, or with several --workers, fewer avoid oversubscription");
    readonly Option<int?> _queue = CliOption.Int("--queue-capacity",
        $"images waiting for a worker, at most (each image of a batch request is one); more get 503 with Retry-After (default {Defaults.Batching.QueueCapacity}). " +
        $"A /v1/predict/batch request takes at most {Defaults.MaxImagesPerRequest} images (a fixed limit) and at most " +
        "this many; more get 413");
    readonly Option<double?> _timeout = CliOption.Number("--timeout-ms", "longest an image may wait for a worker, counted from when it is queued " +
        "(after its upload and decoding, which are not counted); then 503 with Retry-After. An image a worker has taken is answered " +
        $"however long its batch takes; serve warns at start when its warm-up batch took this long (default {Defaults.Batching.Timeout.TotalMilliseconds})", "MS");
    readonly Option<int?> _maxBodyMb = CliOption.Int("--max-body-mb", $"largest request body in MiB, at most {ServingOptions.LargestBody / (1024 * 1024)} (bodies are held in memory); " +
        $"larger gets 413 (default {Defaults.MaxBodyBytes / (1024 * 1024)})", "MIB");
    readonly Option<double?> _maxMegapixels = CliOption.Number("--max-megapixels",
        $"most pixels an image may declare, in 2^20 units, checked before decoding (decompression bombs); more gets 413 (default {Defaults.MaxPixels / (1024 * 1024)})", "MP");

    public override string Name => "serve";
    public override bool ResultsOnStdout => false;   // its log there; its results are HTTP answers
    public override string Summary => "an HTTP inference server: POST /v1/predict and /v1/predict/batch (?top=K, default 5), micro-batching, /metrics, /readyz, a web page at /";

    protected override void Declare(Command command)
    {
        _model.AddTo(command);
        command.Add(_weights, _engine, _fused, _unfused, _ema, _dataset, _imageSize, _host, _allowedHosts, _port, _maxBatch, _maxWait, _workers, _threads, _queue, _timeout, _maxBodyMb, _maxMegapixels);
    }

    // The ranges of the options below are the library's to check (MicroBatcherOptions.Validate, ServingOptions.Validate),
    // worded by option (OptionNames): the CLI checked them too, in words of its own that had drifted apart. Refused here
    // only: numbers the library's types cannot hold at all.

    /// <summary>A duration option in milliseconds as a TimeSpan; a number no TimeSpan holds (1e300 overflowed: a stack
    /// trace) refused in the user's own number.</summary>
    static TimeSpan Milliseconds(string option, double ms)
    {
        try { return TimeSpan.FromMilliseconds(ms); }
        catch (Exception e) when (e is OverflowException or ArgumentException)   // beyond TimeSpan's range; NaN
        {
            throw new UsageException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{option} {ms}: not a duration; at most {MicroBatcherOptions.LongestDuration.TotalMilliseconds:0} ms is taken"));
        }
    }

    /// <summary>--max-megapixels in pixels (a megapixel of 2^20); a number no count of pixels holds refused in the user's own number.</summary>
    static long Pixels(double megapixels) => megapixels * 1024 * 1024 is var pixels && double.IsFinite(pixels) && Math.Abs(pixels) < long.MaxValue
        ? (long)pixels
        : throw new UsageException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"--max-megapixels {megapixels}: not a count of pixels; under 512 is taken"));

    protected override int Run(ParseResult parse, TextWriter stdout, TextWriter stderr)
    {
        var defaults = new ServingOptions();
        var options = defaults with
        {
            Host = parse.GetValue(_host) ?? defaults.Host,
            Port = parse.GetValue(_port) ?? defaults.Port,
            AllowedHosts = parse.GetValue(_allowedHosts)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),   // checked by the library
            StopOnSignals = true,   // Ctrl+C and SIGTERM stop `parnet serve` gracefully (its lines above and below rely on it)
            OnFailure = failure =>
            {
                lock (stderr)   // from request threads at once: whole lines
                {
                    try
                    {
                        stderr.WriteLine(FailureLine(failure));
                        stderr.Flush();
                    }
                    catch (Exception e) when (e is IOException or ObjectDisposedException) { }   // a lost stderr must not turn the JSON 500 into an empty one
                }
            },
            MaxBodyBytes = parse.GetValue(_maxBodyMb) is int mb ? (long)mb * 1024 * 1024 : defaults.MaxBodyBytes,
            MaxPixels = parse.GetValue(_maxMegapixels) is double mp ? Pixels(mp) : defaults.MaxPixels,
            Batching = defaults.Batching with
            {
                MaxBatch = parse.GetValue(_maxBatch) ?? defaults.Batching.MaxBatch,
                MaxWait = parse.GetValue(_maxWait) is double wait ? Milliseconds("--max-wait-ms", wait) : defaults.Batching.MaxWait,
                QueueCapacity = parse.GetValue(_queue) ?? defaults.Batching.QueueCapacity,
                Timeout = parse.GetValue(_timeout) is double timeout ? Milliseconds("--timeout-ms", timeout) : defaults.Batching.Timeout,
            },
        };
        UsageException.Wrap(options.Validate);
        int workers = parse.GetValue(_workers) ?? 1;
        CliOption.RequireAtLeastOne("--workers", workers);
        var onnx = PredictorLoading.ApplyThreads(parse.GetValue(_threads), Name, stderr);

        var config = _model.ReadOptional(parse);
        string? weights = parse.GetValue(_weights);
        var engine = PredictorLoading.Engine(weights, parse.GetValue(_engine));
        var form = WeightsLoading.InferenceForm(parse.GetValue(_fused), parse.GetValue(_unfused));
        if (weights is null && config is not null) WeightsLoading.WarnRandomInitialization(stderr, Name, config);
        var source = PredictorLoading.Source(weights, config, engine, form, parse.GetValue(_ema), parse.GetValue(_imageSize), onnx);
        var model = PredictorLoading.Serve(source, workers, parse.GetValue(_dataset));
        PredictorLoading.WarnIfNoWinograd(model, stderr, Name);
        if (weights is not null && model.Config is { } served) PredictorLoading.WarnIfStatisticsGuessed(model.StatisticsGuessed, served, stderr, Name);
        // the options were validated above: an ArgumentException now is a --max-batch whose batches cannot fit in memory
        // (StartAsync checks it before listening, and disposes the model)
        InferenceServer server;
        try { server = UsageException.Wrap(() => InferenceServer.StartAsync(model, options).GetAwaiter().GetResult(), $"--max-batch {options.Batching.MaxBatch}"); }
        catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse })
        {
            throw new UsageException($"{e.Message} (another server listens there): give another --port, or --port 0 for any free one");
        }
        Task reporting = Task.CompletedTask;   // says "ready" once warmed up: its line comes before "stopped", never after
        CancellationTokenRegistration stoppingLine = default;
        EndingSignals? secondSignal = null;
        try
        {
            stdout.WriteLine($"parnet serve: {model.Description}, {workers} worker(s), max batch {options.Batching.MaxBatch}, " +
                             $"max wait {options.Batching.MaxWait.TotalMilliseconds} ms; listening on {server.Address} (warming up; GET /readyz)");
            stdout.Flush();
            // after the start line (a signal before it would print first); a failed warm-up stops with its own line
            stoppingLine = server.Stopping.Register(() =>
            {
                if (server.WarmupError is not null) return;
                // the host takes every signal as a request to stop, which is already under way: a second one did nothing
                // for up to the shutdown timeout, where a second Ctrl-C ends train or study at once. Registered before the
                // line that promises it, so that a signal right after the line finds them.
                secondSignal = new EndingSignals(signal => StopAtOnce(stderr, EndingSignals.ExitCode(signal)));
                stdout.WriteLine($"parnet serve: stopping: answering the requests in flight (for at most {options.ShutdownTimeout.TotalSeconds:0} s; " +
                                 "a second Ctrl-C or SIGTERM stops at once)");
                stdout.Flush();
            });
            reporting = Task.Run(async () =>
            {
                await server.WarmupEnded;
                if (server.Ready)
                {
                    stdout.WriteLine("parnet serve: ready");
                    stdout.Flush();
                    WarnIfBatchesOutlastTheTimeout(server, stderr);
                    return;
                }
                if (server.WarmupError is null) return;   // a shutdown cut the warm-up short: nothing failed
                // a model that cannot answer the warm-up image cannot answer a request: stop, rather than 503 for ever
                stderr.WriteLine($"parnet serve: warm-up failed: {server.WarmupError}; stopping");
                stderr.Flush();
                await server.StopAsync();
            });
            server.WaitForShutdownAsync().GetAwaiter().GetResult();
        }
        finally
        {
            stoppingLine.Dispose();
            secondSignal?.Dispose();
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            reporting.GetAwaiter().GetResult();
        }
        if (server.WarmupError is not null) return 1;
        int cutOff = server.RequestsCutOff;
        stdout.WriteLine(cutOff == 0 ? "parnet serve: stopped (requests in flight were answered)"
            : $"parnet serve: stopped; {cutOff} request{(cutOff > 1 ? "s" : "")} in flight ended unanswered (still open after " +
              $"{options.ShutdownTimeout.TotalSeconds:0} s, or the client went away)");
        return 0;
    }

    /// <summary>
    /// A warning when a full warm-up batch took --timeout-ms or longer: an image queued behind such a batch waits that long for
    /// a worker and gets 503, and a client that obeys its Retry-After is refused again. A warning, not a refusal: that batch
    /// was the first of its shape (allocations, the engine's first-call set-up), slower than those after it, and an idle
    /// server answers every request whatever the timeout (an item a worker has taken is not timed out).
    /// </summary>
    static void WarnIfBatchesOutlastTheTimeout(InferenceServer server, TextWriter stderr)
    {
        var batching = server.Options.Batching;
        if (server.SlowestWarmupBatch < batching.Timeout) return;
        stderr.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"parnet serve: warning: a warm-up batch of {batching.MaxBatch} image{(batching.MaxBatch > 1 ? "s" : "")} took {server.SlowestWarmupBatch.TotalMilliseconds:0.#} ms, " +
            $"not less than --timeout-ms {batching.Timeout.TotalMilliseconds}: images queued behind a batch will get 503; raise --timeout-ms or lower --max-batch"));
        stderr.Flush();
    }

    /// <summary>
    /// The stderr line of a failure the server answered for itself (a 500; a batch's file whose inference failed): the
    /// request, its status and the exception, on one line. The only per-request lines serve prints: a line for every
    /// request would bury them, and the metrics count requests.
    /// </summary>
    public static string FailureLine(ServerFailure failure) =>
        $"parnet serve: error: {OneLine(failure.Request)} ({failure.Status}): {failure.Exception.GetType().Name}: {OneLine(failure.Exception.Message)}";

    /// <summary>Control characters (line breaks, a terminal's escapes) as spaces: a request's file name is the client's, and
    /// must not forge or hide lines of the log (review, session 48).</summary>
    static string OneLine(string text) =>
        string.Join(' ', new string(text.Select(c => char.IsControl(c) ? ' ' : c).ToArray()).Split(' ', StringSplitOptions.RemoveEmptyEntries));

    /// <summary>A second signal during the stop: the process ends now, the requests still in flight unanswered.</summary>
    static void StopAtOnce(TextWriter stderr, int exitCode)
    {
        stderr.WriteLine("parnet serve: stopped at once by a second signal; requests still in flight were not answered");
        stderr.Flush();
        Environment.Exit(exitCode);
    }
}
