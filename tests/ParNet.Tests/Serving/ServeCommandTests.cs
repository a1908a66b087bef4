using System.Net;
using System.Net.Sockets;
using ParNet.Tests.Cli;
using ParNet.Tests.Export;
using static ParNet.Tests.Serving.ServingTestSupport;

namespace ParNet.Tests.Serving;

/// <summary>`parnet serve` as a user runs it: a separate process, stopped with SIGTERM; and its refusals of bad options.</summary>
public class ServeCommandTests
{
    [Fact]
    public async Task Sigterm_stops_accepting_answers_what_was_accepted_and_exits_0()
    {
        using var folder = new ExportTempFolder();
        string weights = TinyFashionWeights(folder);
        using var serve = new ServeProcess("--weights", weights);
        var address = await serve.AddressAsync();
        using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        for (int i = 0; i < 1000 && (await client.GetAsync("/readyz")).StatusCode != HttpStatusCode.OK; i++) await Task.Delay(20);

        // four clients post in a loop, a new connection per request, until the server is gone (bounded: 2000 requests)
        int answered = 0;
        var statuses = new List<HttpStatusCode>();
        var png = Png(28, 1);
        async Task Loop()
        {
            for (int i = 0; i < 500; i++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/predict") { Content = Raw(png, "image/png") };
                request.Headers.ConnectionClose = true;
                HttpResponseMessage response;
                try { response = await client.SendAsync(request); }
                catch (HttpRequestException) { return; }   // refused: the server stopped listening
                lock (statuses) statuses.Add(response.StatusCode);
                await response.Content.ReadAsStringAsync();
                Interlocked.Increment(ref answered);
            }
        }
        var loops = Enumerable.Range(0, 4).Select(_ => Task.Run(Loop)).ToList();
        for (int i = 0; i < 3000 && Volatile.Read(ref answered) < 20; i++) await Task.Delay(10);
        serve.Terminate();

        Assert.Equal(0, await serve.ExitCodeAsync());
        await Task.WhenAll(loops);
        Assert.True(statuses.Count >= 20, $"only {statuses.Count} answers before SIGTERM");
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));   // nothing accepted was dropped or failed
        Assert.Contains("parnet serve: ready", serve.Stdout);
        Assert.Contains("(fused, 1x32x32) on torch", serve.Stdout);   // a ParNet's trained weights are served fused by default
        // the signal is acknowledged when it comes, and the last line says what became of the requests in flight
        int stopping = serve.Stdout.IndexOf("parnet serve: stopping: answering the requests in flight (for at most 30 s; a second Ctrl-C or SIGTERM stops at once)", StringComparison.Ordinal);
        Assert.True(stopping >= 0, serve.Stdout);
        Assert.True(serve.Stdout.IndexOf("parnet serve: stopped (requests in flight were answered)", StringComparison.Ordinal) > stopping, serve.Stdout);
        // stderr holds at most libtorch's own warnings (NNPACK on CPUs it does not support), no error of ours
        Assert.DoesNotContain("parnet serve:", serve.Stderr);
        Assert.DoesNotContain("   at ", serve.Stderr);
    }

    /// <summary>A second SIGTERM (or Ctrl-C) while a stalled request held the stop did nothing for up to the 30 s shutdown
    /// timeout (walk of session 34): it ends the process at once, saying so.</summary>
    [Fact]
    public async Task A_second_sigterm_during_the_stop_ends_the_process_at_once()
    {
        using var folder = new ExportTempFolder();
        using var serve = new ServeProcess("--weights", TinyFashionWeights(folder));
        var address = await serve.AddressAsync();
        using (var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) })
            for (int i = 0; i < 1000 && (await client.GetAsync("/readyz")).StatusCode != HttpStatusCode.OK; i++) await Task.Delay(20);
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(address.Host, address.Port);
        // a body of 500 bytes announced, 3 sent: a request in flight that holds the stop to its timeout
        await tcp.GetStream().WriteAsync(System.Text.Encoding.ASCII.GetBytes("POST /v1/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: 500\r\n\r\nabc"));
        // in flight once its handler waits for the body: a signal before that found no request to wait for, and the stop
        // ended at once (a fresh-clone CI run of session 37: "stopped (" printed, the second signal racing the exit)
        using (var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) })
            for (int i = 0; i < 500 && !(await client.GetStringAsync("/metrics")).Split('\n')
                     .Any(l => l.StartsWith("http_requests_in_progress{", StringComparison.Ordinal) && l.Contains("/v1/predict") && l.EndsWith(" 1")); i++)
                await Task.Delay(20);
        serve.Terminate();
        for (int i = 0; i < 3000 && !serve.Stdout.Contains("parnet serve: stopping:"); i++) await Task.Delay(10);
        Assert.Contains("parnet serve: stopping:", serve.Stdout);
        var secondSignal = System.Diagnostics.Stopwatch.StartNew();
        serve.Terminate();
        Assert.Equal(143, await serve.ExitCodeAsync(seconds: 60));
        Assert.True(secondSignal.Elapsed < TimeSpan.FromSeconds(15), $"exited {secondSignal.Elapsed} after the second signal");
        Assert.Contains("parnet serve: stopped at once by a second signal; requests still in flight were not answered", serve.Stderr);
        Assert.DoesNotContain("parnet serve: stopped (", serve.Stdout);
    }

    [Theory]
    [InlineData("--max-batch", "0", "--max-batch 0: must be >= 1 (images per inference call)")]   // "max batch must be >= 1; got 0": no option named
    [InlineData("--queue-capacity", "0", "--queue-capacity 0: must be >= 1 (images waiting)")]
    [InlineData("--max-body-mb", "-3", "--max-body-mb -3: more than 0 and at most 2047 (a body is held in memory in one array, which .NET keeps under 2 GiB)")]   // "max body size must be >= 1 byte; got -3145728"
    [InlineData("--max-body-mb", "2048", "--max-body-mb 2048: more than 0 and at most 2047 (")]   // was served: a body over 2 GiB then failed as a 500
    [InlineData("--timeout-ms", "0", "--timeout-ms 0: more than 0 to 2147483647 ms")]
    [InlineData("--max-wait-ms", "-1", "--max-wait-ms -1: from 0 to 2147483647 ms")]
    [InlineData("--timeout-ms", "-1e300", "--timeout-ms -1E+300: not a duration; at most 2147483647 ms is taken")]   // overflowed TimeSpan: a stack trace
    [InlineData("--host", "nowhere", "--host nowhere: give an IP address (127.0.0.1, 0.0.0.0, ::1) or localhost")]
    [InlineData("--host", "192.0.2.1", "cannot listen on 192.0.2.1 port")]   // TEST-NET-1: an address no machine has
    [InlineData("--port", "70000", "--port 70000: use 0-65535")]
    [InlineData("--workers", "0", "--workers 0: must be >= 1")]
    [InlineData("--threads", "0", "--threads 0: must be >= 1")]
    [InlineData("--engine", "tensorrt", "--engine tensorrt")]
    [InlineData("--allowed-hosts", " , ", "--allowed-hosts (none): at least one host name, or * for any")]
    [InlineData("--allowed-hosts", "http://models.example.org", "--allowed-hosts http://models.example.org: not a host name")]
    [InlineData("--allowed-hosts", "localhost,models.example.org:443", "--allowed-hosts models.example.org:443: a name with a port")]   // it matched nothing: every request 400
    public void Bad_options_are_one_line_and_exit_code_2(string option, string value, string message)
    {
        using var folder = new ExportTempFolder();
        string weights = TinyFashionWeights(folder);
        CliRunner.AssertUserError(CliRunner.Run("serve", "--weights", weights, option, value), message);
    }

    [Theory]
    [InlineData("torch")]
    [InlineData("onnxruntime")]   // an .onnx file: its layer shapes from ONNX Runtime's inference, no torch model built
    public async Task A_max_batch_that_cannot_fit_in_memory_is_refused_before_anything_is_served(string engine)
    {
        using var folder = new ExportTempFolder();
        string weights = TinyFashionWeights(folder);
        if (engine == "onnxruntime")
        {
            string onnx = folder.File("tiny.onnx");
            var export = CliRunner.Run("export", "--weights", weights, "--fused", "--out", onnx);
            Assert.True(export.Code == 0, export.Err);
            weights = onnx;
        }
        // if the refusal ever stops working, serve listens for ever: the test fails at 60 s rather than hanging CI
        var result = await Task.Run(() => CliRunner.Run("serve", "--weights", weights, "--port", "0", "--max-batch", "1000000000"))
            .WaitAsync(TimeSpan.FromSeconds(60));   // a TimeoutException, not a hang, if serve ever listens instead
        CliRunner.AssertUserError(result, "--max-batch 1000000000: a batch of 1,000,000,000 images takes at least ");
        var numbers = System.Text.RegularExpressions.Regex.Match(result.Err,
            @"at least ([\d,.]+) GiB \(([\d,]+) bytes an image of 1x\d+x\d+ for .* on " + engine + @": .*\), more than the ([\d,.]+) GiB of memory here; batches of at most ([\d,]+) images can fit");
        Assert.True(numbers.Success, result.Err);
        double Number(int group) => double.Parse(numbers.Groups[group].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(Number(1) > Number(3), result.Err);
        Assert.Equal(Number(1), Number(2) * 1e9 / (1L << 30), 0.1 * Number(1));   // the batch is the images' bytes
        Assert.InRange(Number(4), 1, 1e9 - 1);
        Assert.DoesNotContain("listening", result.Out);
    }

    /// <summary>A --timeout-ms shorter than one forward pass was served silently, and every request on an idle server got 503
    /// "overloaded" (an audit of serve). Such a request is answered now, but images queued behind a batch still time out:
    /// serve says so once ready, with the time its warm-up batch took.</summary>
    [Fact]
    public async Task A_timeout_not_longer_than_the_warm_up_batch_is_warned_of_with_the_measured_time()
    {
        using var folder = new ExportTempFolder();
        using var serve = new ServeProcess("--weights", TinyFashionWeights(folder), "--max-batch", "1", "--timeout-ms", "0.001");
        await serve.AddressAsync();
        for (int i = 0; i < 3000 && !serve.Stderr.Contains("warning: a warm-up batch"); i++) await Task.Delay(10);
        Assert.Matches(@"^parnet serve: warning: a warm-up batch of 1 image took \d+(\.\d)? ms, not less than --timeout-ms 0\.001: " +
                       "images queued behind a batch will get 503; raise --timeout-ms or lower --max-batch$",
                       serve.Stderr.Split('\n').Single(l => l.Contains("warning: a warm-up batch")));
        Assert.Contains("parnet serve: ready", serve.Stdout);
        serve.Terminate();
        Assert.Equal(0, await serve.ExitCodeAsync());
    }

    /// <summary>Waits longer than a timer takes: --timeout-ms 1e10 was served and every request got a 500, --max-wait-ms
    /// 1e10 killed the worker at the first request (which hung) and aborted the server at shutdown, and 1e300 overflowed
    /// TimeSpan (a stack trace, exit code 134).</summary>
    [Theory]
    [InlineData("--timeout-ms", "1e10", "--timeout-ms 10000000000: more than 0 to 2147483647 ms")]
    [InlineData("--max-wait-ms", "1e10", "--max-wait-ms 10000000000: from 0 to 2147483647 ms")]
    [InlineData("--max-wait-ms", "1e300", "--max-wait-ms 1E+300: not a duration; at most 2147483647 ms is taken")]
    public async Task A_wait_longer_than_a_timer_takes_is_refused_before_anything_is_served(string option, string value, string message)
    {
        using var folder = new ExportTempFolder();
        string weights = TinyFashionWeights(folder);
        // if the refusal ever stops working, serve listens for ever: the test fails at 60 s rather than hanging CI
        var result = await Task.Run(() => CliRunner.Run("serve", "--weights", weights, "--port", "0", option, value))
            .WaitAsync(TimeSpan.FromSeconds(60));
        CliRunner.AssertUserError(result, message);
        Assert.DoesNotContain("listening", result.Out);
    }

    /// <summary>The line serve prints on stderr for each failure the server reports: one line, a multi-line message joined.</summary>
    [Fact]
    public void A_reported_failure_is_one_stderr_line_naming_the_request_status_and_exception()
    {
        var failure = new ParNet.Serving.ServerFailure("POST /v1/predict", 500, new InvalidOperationException("out of\nmemory\r\n"));
        Assert.Equal("parnet serve: error: POST /v1/predict (500): InvalidOperationException: out of memory", ParNet.Cli.ServeCommand.FailureLine(failure));
        // a client's file name cannot forge a line of the log, nor hide one with a terminal's escapes (review, session 48)
        var forged = new ParNet.Serving.ServerFailure("POST /v1/predict/batch, file a.png\nparnet serve: error: \u001b[2Kfake", 500, new InvalidOperationException("x"));
        Assert.Equal("parnet serve: error: POST /v1/predict/batch, file a.png parnet serve: error: [2Kfake (500): InvalidOperationException: x",
                     ParNet.Cli.ServeCommand.FailureLine(forged));
    }

    [Fact]
    public void Help_names_the_fixed_limit_of_images_per_batch_request()
    {
        var (code, stdout, _) = CliRunner.Run("serve", "--help");
        Assert.Equal(0, code);
        Assert.Contains("at most 32 images (a fixed limit)", string.Join(" ", stdout.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries)));
    }

    [Fact]
    public async Task Unfused_serves_the_training_form_and_is_refused_beside_fused()
    {
        using var folder = new ExportTempFolder();
        string weights = TinyFashionWeights(folder);
        CliRunner.AssertUserError(CliRunner.Run("serve", "--weights", weights, "--fused", "--unfused", "--port", "0"), "--fused and --unfused");
        using var serve = new ServeProcess("--weights", weights, "--unfused");
        await serve.AddressAsync();
        Assert.Contains("(training form, 1x32x32) on torch", serve.Stdout);
        serve.Terminate();
        Assert.Equal(0, await serve.ExitCodeAsync());
    }

    /// <summary>Class names and preprocessing "are read as predict reads them", but serve had no --dataset: the authors'
    /// released ImageNet checkpoints (which store no class names) were served as "class 119".</summary>
    [Fact]
    public async Task Dataset_sets_the_served_class_names_as_it_does_for_predict()
    {
        using var folder = new ExportTempFolder();
        string weights = TinyFashionWeights(folder);   // stored: fashion-mnist
        using var serve = new ServeProcess("--weights", weights, "--dataset", "mnist");
        var address = await serve.AddressAsync();
        using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        for (int i = 0; i < 1000 && (await client.GetAsync("/readyz")).StatusCode != HttpStatusCode.OK; i++) await Task.Delay(20);
        var (status, json, _) = await PostAsync(client, "/v1/predict?top=10", Raw(Png(28, 2), "image/png"));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], Top(json.GetProperty("top")).Select(t => t.Name).Order());
        serve.Terminate();
        Assert.Equal(0, await serve.ExitCodeAsync());
    }

    [Fact]
    public void Without_weights_a_model_must_be_named()
    {
        CliRunner.AssertUserError(CliRunner.Run("serve", "--port", "0"), "without --weights, give --model NAME or --config");
    }

    [Fact]
    public void Missing_weights_are_a_user_error()
    {
        CliRunner.AssertUserError(CliRunner.Run("serve", "--weights", "/no/such/weights.safetensors", "--port", "0"),
                                  "parnet serve: weights file not found: /no/such/weights.safetensors");
    }

    /// <summary>Kestrel's "Failed to bind to address http://127.0.0.1:N: address already in use." named no way out (cross-command
    /// audit, session 43).</summary>
    [Fact]
    public void A_port_already_in_use_is_a_user_error_that_names_the_way_out()
    {
        using var folder = new ExportTempFolder();
        string weights = TinyFashionWeights(folder);
        var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        try
        {
            int port = ((IPEndPoint)taken.LocalEndpoint).Port;
            CliRunner.AssertUserError(CliRunner.Run("serve", "--weights", weights, "--port", port.ToString()),
                $"parnet serve: cannot listen on 127.0.0.1 port {port}: Address already in use (another server listens there): give another --port, or --port 0 for any free one");
        }
        finally { taken.Stop(); }
    }
}
