using System.Net.Sockets;
using System.Text;
using ParNet.Serving;
using static ParNet.Tests.Serving.ServingTestSupport;

namespace ParNet.Tests.Serving;

/// <summary>
/// A client that leaves in the middle of its upload (curl's --max-time running out, a closed browser tab) got no answer,
/// but /metrics counted its request as the client's fault (400, "bad_request") when it closed its connection, and as the
/// server's (500, "inference failed") when it reset it (an audit of serve, session 45): it is counted as 499, nginx's
/// "client closed request", as a client leaving during inference is.
/// </summary>
public class ClientLeavingTests
{
    [Theory]
    [InlineData("/v1/predict", false)]
    [InlineData("/v1/predict", true)]
    [InlineData("/v1/predict/batch", false)]
    [InlineData("/v1/predict/batch", true)]
    public async Task A_client_that_leaves_during_its_upload_is_counted_as_499(string endpoint, bool reset)
    {
        await using var server = await StartReadyAsync(FakeClassifier.Model(new FakeClassifier()), Loopback());
        using var client = Client(server);
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(server.Address.Host, server.Address.Port);
            // a body of 1000 bytes announced, the first few sent: the request is in flight, reading its body
            string head = endpoint.EndsWith("batch", StringComparison.Ordinal)
                ? "Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 1000\r\n\r\n--XX\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a.png\"\r\n\r\nPNG"
                : "Content-Type: image/png\r\nContent-Length: 1000\r\n\r\nPNG";
            await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"POST {endpoint} HTTP/1.1\r\nHost: localhost\r\n{head}"));
            for (int i = 0; i < 500; i++)
            {
                var inProgress = PrometheusText.Parse(await client.GetStringAsync("/metrics"));
                if (PrometheusText.Sum(inProgress, "http_requests_in_progress", ("endpoint", endpoint)) == 1) break;
                Assert.True(i < 499, "the request never reached its endpoint");
                await Task.Delay(20);
            }
            if (reset) tcp.LingerState = new LingerOption(true, 0);   // close sends RST, not FIN
        }

        List<PrometheusText.Sample> samples = [];
        for (int t = 0; t < 500; t++)   // counted when the handler returns
        {
            samples = PrometheusText.Parse(await client.GetStringAsync("/metrics"));
            if (PrometheusText.Sum(samples, "http_requests_received_total", ("endpoint", endpoint)) > 0) break;
            await Task.Delay(20);
        }
        string counted = string.Join("; ", samples.Where(x => x.Name is "http_requests_received_total" or "parnet_rejected_total")
                                                  .Select(x => $"{x.Name}{{{string.Join(",", x.Labels)}}} {x.Value}"));
        Assert.True(PrometheusText.Sum(samples, "http_requests_received_total", ("code", "499"), ("endpoint", endpoint)) == 1, counted);
        Assert.True(PrometheusText.Sum(samples, "parnet_rejected_total") == 0, counted);
    }

    /// <summary>A chunked upload cut off by its client is a client that left too (499); a chunked body whose framing is
    /// malformed is still the client's fault (400, bad_request), though Kestrel throws the same exception type for both.</summary>
    [Fact]
    public async Task A_chunked_upload_cut_off_is_499_and_malformed_chunked_framing_is_still_400()
    {
        await using var server = await StartReadyAsync(FakeClassifier.Model(new FakeClassifier()), Loopback());
        using var client = Client(server);
        const string head = "POST /v1/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n";
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(server.Address.Host, server.Address.Port);
            await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes(head + "10\r\nPNG"));   // 16 bytes announced, 3 sent
            for (int i = 0; i < 500; i++)
            {
                var inProgress = PrometheusText.Parse(await client.GetStringAsync("/metrics"));
                if (PrometheusText.Sum(inProgress, "http_requests_in_progress", ("endpoint", "/v1/predict")) == 1) break;
                Assert.True(i < 499, "the request never reached its endpoint");
                await Task.Delay(20);
            }
        }
        string answer;
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(server.Address.Host, server.Address.Port);
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head + "ZZ\r\nPNG\r\n0\r\n\r\n"));   // no hexadecimal chunk size
            var buffer = new byte[4096];
            answer = Encoding.ASCII.GetString(buffer, 0, await stream.ReadAsync(buffer));
        }
        Assert.StartsWith("HTTP/1.1 400", answer);

        List<PrometheusText.Sample> samples = [];
        for (int t = 0; t < 500; t++)
        {
            samples = PrometheusText.Parse(await client.GetStringAsync("/metrics"));
            if (PrometheusText.Sum(samples, "http_requests_received_total", ("endpoint", "/v1/predict")) == 2) break;
            await Task.Delay(20);
        }
        string counted = string.Join("; ", samples.Where(x => x.Name is "http_requests_received_total" or "parnet_rejected_total")
                                                  .Select(x => $"{x.Name}{{{string.Join(",", x.Labels)}}} {x.Value}"));
        Assert.True(PrometheusText.Sum(samples, "http_requests_received_total", ("code", "499"), ("endpoint", "/v1/predict")) == 1, counted);
        Assert.True(PrometheusText.Sum(samples, "http_requests_received_total", ("code", "400"), ("endpoint", "/v1/predict")) == 1, counted);
        Assert.True(PrometheusText.Sum(samples, "parnet_rejected_total", ("reason", "bad_request")) == 1, counted);
    }
}
