using Prometheus;
using Prometheus.HttpMetrics;

namespace ParNet.Serving;

/// <summary>
/// The server's Prometheus metrics, in a registry of its own (two servers in one process do not mix): the .NET and
/// process collectors (memory, CPU), the HTTP request counts by status and the latency histogram (prometheus-net's
/// HTTP middleware, fed from <see cref="Factory"/>), the batcher's queue depth, images in flight, batch sizes and
/// inference time, and the refusals and failed inferences.
/// </summary>
public sealed class ServingMetrics
{
    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();
    public IMetricFactory Factory { get; }

    readonly Gauge _queueDepth, _imagesInFlight;
    readonly Histogram _batchSize, _inferenceSeconds;
    readonly Counter _rejected, _inferenceFailed;

    /// <summary>One bucket per batch size up to 16, then doublings up to the largest batch: --max-batch 100000 made 100,000
    /// bucket lines on every scrape (serve audit, session 40).</summary>
    public static double[] BatchSizeBuckets(int maxBatch)
    {
        var buckets = Enumerable.Range(1, Math.Min(maxBatch, 16)).Select(b => (double)b).ToList();
        for (double b = 32; b < maxBatch; b *= 2) buckets.Add(b);
        if (maxBatch > 16) buckets.Add(maxBatch);
        return buckets.ToArray();
    }

    /// <summary>
    /// Every reason of parnet_rejected_total, each a series from the start at 0: a reason that had not happened yet had no
    /// series, and a rate or an alert on it saw "no data" rather than 0 (an audit of serve).
    /// </summary>
    public static readonly string[] RefusalReasons =
        ["queue_full", "timeout", "stopping", "not_ready", "warmup_failed", "bad_image", "too_large", "unsupported_media_type", "bad_request", UnknownMethod];

    public ServingMetrics(int maxBatch, Func<int> queueDepth, Func<int> imagesInFlight)
    {
        DotNetStats.Register(Registry);
        var factory = Metrics.WithCustomRegistry(Registry);
        Factory = factory;
        _queueDepth = factory.CreateGauge("parnet_queue_depth", "Images waiting for an inference worker (a request of several images counts each).");
        // images, not requests (a batch request of 32 is 32): it was parnet_requests_in_flight, and disagreed with http_requests_in_progress
        _imagesInFlight = factory.CreateGauge("parnet_images_in_flight", "Images accepted by the batcher and not yet answered (a request of several images counts each).");
        _batchSize = factory.CreateHistogram("parnet_batch_size", "Images per inference call.",
            new HistogramConfiguration { Buckets = BatchSizeBuckets(maxBatch) });
        // 1 ms to ~16 s in doublings: a tiny model's batch to a slow ParNet-M batch on 2 cores
        _inferenceSeconds = factory.CreateHistogram("parnet_inference_duration_seconds", "Time of one batched inference call.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.001, 2, 15) });
        _rejected = factory.CreateCounter("parnet_rejected_total", "Refusals before inference, by reason: one per refused request, and one per file of an answered batch that got an error in its place.",
            new CounterConfiguration { LabelNames = ["reason"] });
        foreach (var reason in RefusalReasons) _rejected.WithLabels(reason);
        // a batch answered with 200 hid its files whose output was not finite from /metrics: the HTTP counts saw a 200
        _inferenceFailed = factory.CreateCounter("parnet_inference_failed_total", "Answers of \"inference failed\": one per request answered 500, and one per file of an answered batch whose output was not finite.");
        Registry.AddBeforeCollectCallback(() =>
        {
            _queueDepth.Set(queueDepth());
            _imagesInFlight.Set(imagesInFlight());
        });
    }

    /// <summary>
    /// prometheus-net's HTTP metrics (UseHttpMetrics) in this registry, labelled by code, method and endpoint only: its
    /// default metrics also carry MVC's controller and action, empty on every series of a server without MVC. The
    /// method label is bounded by <see cref="RequestGuards.RefuseUnknownMethods"/>, which answers any other method before
    /// this middleware sees it: each made-up method (curl -X M123) added some 20 series that no one could remove (an audit of serve).
    /// </summary>
    public void ConfigureHttp(HttpMiddlewareExporterOptions options)
    {
        string[] finished = [HttpRequestLabelNames.Code, HttpRequestLabelNames.Method, HttpRequestLabelNames.Endpoint];
        string[] running = [HttpRequestLabelNames.Method, HttpRequestLabelNames.Endpoint];   // no status code before the answer
        options.SetMetricFactory(Factory);
        options.RequestCount.Counter = Factory.CreateCounter("http_requests_received_total",
            "HTTP requests answered, by status code, method and endpoint.", new CounterConfiguration { LabelNames = finished });
        options.InProgress.Gauge = Factory.CreateGauge("http_requests_in_progress",
            "HTTP requests being answered now, by method and endpoint.", new GaugeConfiguration { LabelNames = running });
        // 1 ms to ~33 s in doublings, prometheus-net's own default buckets: a health probe to a large batch on a slow machine
        options.RequestDuration.Histogram = Factory.CreateHistogram("http_request_duration_seconds",
            "Time to answer an HTTP request, by status code, method and endpoint.",
            new HistogramConfiguration { LabelNames = finished, Buckets = Histogram.ExponentialBuckets(0.001, 2, 16) });
    }

    public void Batch(int size, TimeSpan duration)
    {
        _batchSize.Observe(size);
        _inferenceSeconds.Observe(duration.TotalSeconds);
    }

    /// <summary>The reason of a request refused for a method HTTP does not have (<see cref="RequestGuards.RefuseUnknownMethods"/>).</summary>
    public const string UnknownMethod = "unknown_method";

    /// <summary>A refusal, for one of <see cref="RefusalReasons"/>.</summary>
    public void Rejected(string reason)
    {
        if (!RefusalReasons.Contains(reason)) throw new ArgumentException($"refusal reason {reason} is not one of {string.Join(", ", RefusalReasons)}");   // a bug, found by the tests
        _rejected.WithLabels(reason).Inc();
    }

    public void InferenceFailed() => _inferenceFailed.Inc();
}
