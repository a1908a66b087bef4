using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using static ParNet.Tests.Serving.ServingTestSupport;

namespace ParNet.Tests.Serving;

/// <summary>The page and the API sent no security headers and took any Host, so DNS rebinding could read a loopback server's
/// answers from a page on the web (an audit of serve).</summary>
public class SecurityHeadersTests
{
    [Fact]
    public async Task Every_answer_is_nosniff_and_the_page_allows_only_its_own_script_and_style_and_no_framing()
    {
        await using var server = await StartReadyAsync(FakeClassifier.Model(new FakeClassifier()), Loopback());
        using var client = Client(server);
        foreach (var path in new[] { "/", "/readyz", "/metrics", "/nowhere" })
        {
            using var answer = await client.GetAsync(path);
            Assert.True(answer.Headers.TryGetValues("X-Content-Type-Options", out var values), $"GET {path}: no X-Content-Type-Options");
            Assert.Equal(["nosniff"], values);
        }
        using var page = await client.GetAsync("/");
        string html = await page.Content.ReadAsStringAsync();
        string policy = Assert.Single(page.Headers.GetValues("Content-Security-Policy"));
        // the hashes of the page's own inline script and style, computed here from the page as served
        string Hash(string element) => "sha256-" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(
            Regex.Match(html, $"<{element}>(.*?)</{element}>", RegexOptions.Singleline).Groups[1].Value)));
        Assert.Equal($"default-src 'none'; script-src '{Hash("script")}'; style-src '{Hash("style")}'; img-src blob: data:; " +
                     "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'", policy);
        Assert.DoesNotContain("src=\"http", html);   // nothing loaded from elsewhere, which the policy would block
    }

    [Theory]
    [InlineData("attacker.example", HttpStatusCode.BadRequest)]
    [InlineData("attacker.example:{port}", HttpStatusCode.BadRequest)]
    [InlineData("localhost:{port}", HttpStatusCode.OK)]
    [InlineData("127.0.0.1:{port}", HttpStatusCode.OK)]
    [InlineData("[::1]:{port}", HttpStatusCode.OK)]
    [InlineData("localhost", HttpStatusCode.OK)]
    public async Task A_loopback_server_answers_only_to_loopback_host_names(string host, HttpStatusCode expected)
    {
        await using var server = await StartReadyAsync(FakeClassifier.Model(new FakeClassifier()), Loopback());
        using var client = Client(server);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/readyz");
        request.Headers.Host = host.Replace("{port}", server.Address.Port.ToString());
        using var answer = await client.SendAsync(request);
        Assert.Equal(expected, answer.StatusCode);
        // ASP.NET Core's host filtering says why in a short HTML page; the model's description is not in it
        if (expected == HttpStatusCode.BadRequest) Assert.Contains("Invalid Hostname", await answer.Content.ReadAsStringAsync());
        else Assert.Contains("\"model\":\"fake\"", await answer.Content.ReadAsStringAsync());
    }

    /// <summary>All of 127.0.0.0/8 is loopback: a server bound to 127.0.0.2 answered 400 to its own address (review, session 48).</summary>
    [Fact]
    public async Task A_server_on_another_loopback_address_answers_to_that_address()
    {
        await using var server = await StartReadyAsync(FakeClassifier.Model(new FakeClassifier()), Loopback() with { Host = "127.0.0.2" });
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.2:{server.Address.Port}"), Timeout = TimeSpan.FromSeconds(60) };
        using var answer = await client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/readyz");
        request.Headers.Host = "attacker.example";
        using var refused = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
    }

    /// <summary>A reverse proxy on the machine forwarding its own Host to a loopback server (nginx's proxy_set_header Host
    /// $host) is answered when that name is allowed; the list is then the whole rule, loopback names included.</summary>
    [Theory]
    [InlineData("models.example.org", HttpStatusCode.OK)]
    [InlineData("models.example.org:{port}", HttpStatusCode.OK)]
    [InlineData("localhost:{port}", HttpStatusCode.BadRequest)]
    [InlineData("attacker.example", HttpStatusCode.BadRequest)]
    public async Task Allowed_hosts_given_are_the_names_a_loopback_server_answers(string host, HttpStatusCode expected)
    {
        await using var server = await StartReadyAsync(FakeClassifier.Model(new FakeClassifier()), Loopback() with { AllowedHosts = ["models.example.org"] });
        using var client = Client(server);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/readyz");
        request.Headers.Host = host.Replace("{port}", server.Address.Port.ToString());
        using var answer = await client.SendAsync(request);
        Assert.Equal(expected, answer.StatusCode);
    }

    /// <summary>A server exposed on purpose (--host 0.0.0.0) is reached by names it cannot know: every Host is answered.</summary>
    [Fact]
    public async Task A_server_on_every_interface_answers_any_host()
    {
        await using var server = await StartReadyAsync(FakeClassifier.Model(new FakeClassifier()), Loopback() with { Host = "0.0.0.0" });
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{server.Address.Port}"), Timeout = TimeSpan.FromSeconds(60) };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/readyz");
        request.Headers.Host = "model.example.org";
        using var answer = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
    }
}
