using System.Net;
using System.Net.Sockets;
using ParNet.Serving;
using static ParNet.Tests.Serving.ServingTestSupport;

namespace ParNet.Tests.Serving;

/// <summary>
/// `--host localhost` listened on 127.0.0.1 alone, so a client that resolves localhost to ::1 first (curl, browsers on
/// a dual-stack machine) was refused (walk of session 34): localhost on a given port is both loopbacks.
/// </summary>
public class ListenAddressTests
{
    [SkippableFact]
    public async Task Localhost_answers_on_both_loopback_addresses()
    {
        Skip.IfNot(Socket.OSSupportsIPv6, "this machine has no IPv6 loopback (::1) for localhost to answer on");
        var port = FreePortOnBothLoopbacks();
        var options = Loopback() with { Host = "localhost", Port = port };
        await using var server = await StartReadyAsync(FakeClassifier.Model(new FakeClassifier()), options);
        foreach (var address in new[] { "127.0.0.1", "[::1]" })
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://{address}:{port}"), Timeout = TimeSpan.FromSeconds(30) };
            var answer = await client.GetAsync("/healthz");
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }
    }

    [SkippableFact]
    public async Task Localhost_on_a_port_taken_on_one_loopback_is_refused_and_holds_neither()
    {
        Skip.IfNot(Socket.OSSupportsIPv6, "this machine has no IPv6 loopback (::1) to take");
        int port = FreePortOnBothLoopbacks();
        using (var holder = new TcpListener(IPAddress.IPv6Loopback, port))   // ::1 taken; 127.0.0.1 left free
        {
            holder.Start();
            var options = Loopback() with { Host = "localhost", Port = port };
            var refusal = await Assert.ThrowsAsync<IOException>(() => InferenceServer.StartAsync(FakeClassifier.Model(new FakeClassifier()), options));
            Assert.Contains($"{port}", refusal.Message);
        }
        // not half bound: the refused start left 127.0.0.1 free too
        using var v4 = new TcpListener(IPAddress.Loopback, port);
        v4.Start();
    }

    /// <summary>A port free on ::1 (the system's pick) and, checked, on 127.0.0.1 too.</summary>
    static int FreePortOnBothLoopbacks()
    {
        for (int attempt = 0; ; attempt++)
        {
            using var v6 = new TcpListener(IPAddress.IPv6Loopback, 0);
            v6.Start();
            var port = ((IPEndPoint)v6.LocalEndpoint).Port;
            try
            {
                using var v4 = new TcpListener(IPAddress.Loopback, port);
                v4.Start();
                return port;
            }
            catch (SocketException) when (attempt < 20) { }
        }
    }
}
