using System.Net.Sockets;
using System.Text;
using ParNet.Serving;
using static ParNet.Tests.Serving.ServingTestSupport;

namespace ParNet.Tests.Serving;

/// <summary>
/// A stop with a request still open at the shutdown timeout (a stalled upload) ended it unanswered while `parnet serve`
/// printed "requests in flight were answered" (walk of session 34): the server counts such requests.
/// </summary>
public class ServerShutdownTests
{
    [Fact]
    public async Task A_request_still_open_at_the_shutdown_timeout_is_counted_as_cut_off()
    {
        var options = Loopback() with { ShutdownTimeout = TimeSpan.FromSeconds(1) };
        await using var server = await StartReadyAsync(FakeClassifier.Model(new FakeClassifier()), options);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Address.Host, server.Address.Port);
        var stream = tcp.GetStream();
        // a body of 500 bytes announced, 3 sent: the request is in flight, reading its body
        await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /v1/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: 500\r\n\r\nabc"));
        await stream.FlushAsync();
        using (var client = Client(server))   // until the request is in the pipeline, reading its body
            for (int i = 0; i < 500; i++)
            {
                var samples = PrometheusText.Parse(await client.GetStringAsync("/metrics"));
                if (PrometheusText.Sum(samples, "http_requests_in_progress", ("endpoint", "/v1/predict")) == 1) break;
                Assert.True(i < 499, "the stalled request never reached the endpoint");
                await Task.Delay(20);
            }
        Assert.Equal(0, server.RequestsCutOff);
        Assert.False(server.Stopping.IsCancellationRequested);

        var stopped = System.Diagnostics.Stopwatch.StartNew();
        await server.StopAsync();
        Assert.True(server.Stopping.IsCancellationRequested);
        Assert.True(stopped.Elapsed < TimeSpan.FromSeconds(20), $"stopping took {stopped.Elapsed}");
        Assert.Equal(1, server.RequestsCutOff);   // as `parnet serve` reads it: right after the stop
    }

    [Fact]
    public async Task A_stop_with_every_request_answered_counts_none_cut_off()
    {
        await using var server = await StartReadyAsync(FakeClassifier.Model(new FakeClassifier()), Loopback());
        using var client = Client(server);
        var (status, _, _) = await PostAsync(client, "/v1/predict", Raw(Png(28, seed: 2), "image/png"));
        Assert.Equal(System.Net.HttpStatusCode.OK, status);
        await server.StopAsync();
        Assert.Equal(0, server.RequestsCutOff);
    }
}
