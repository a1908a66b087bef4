using System.Diagnostics;
using System.Net;
using System.Text.Json;
using ParNet.Tests.Export;
using static ParNet.Tests.Serving.ServingTestSupport;

namespace ParNet.Tests.Serving;

/// <summary>
/// The web page at / in a real browser: Debian's chromium, headless, driven by tests/browser/classify.mjs (playwright-core,
/// installed by `.ci/run` with `npm ci`; it never downloads a browser). The page must show the class the API answers.
/// </summary>
public class BrowserTests
{
    static string BrowserFolder() => Repository.Path("tests", "browser");

    [Fact]
    public Task The_page_shows_the_top_class_the_api_answers_for_an_uploaded_image() => AssertPageShowsApiAnswerAsync("upload.png");

    /// <summary>A file the browser gives no type (no known extension: a camera's export, a download without a name) was
    /// posted as application/octet-stream and refused with 415 and a curl command line.</summary>
    [Fact]
    public Task The_page_classifies_an_image_file_without_a_known_extension() => AssertPageShowsApiAnswerAsync("upload");

    static async Task AssertPageShowsApiAnswerAsync(string fileName)
    {
        string browser = BrowserFolder();
        Assert.True(Directory.Exists(Path.Combine(browser, "node_modules", "playwright-core")),
            $"playwright-core is not installed: run `npm ci` in {browser} (.ci/run does), and `apt-get install chromium`");
        Assert.True(File.Exists("/usr/bin/chromium"), "Debian's chromium is not installed: apt-get install chromium (.ci/run does)");

        using var folder = new ExportTempFolder();
        string weights = TinyFashionWeights(folder);
        await using var server = await StartReadyAsync(Open(weights), Loopback());
        using var client = Client(server);
        var png = Png(28, seed: 5);
        string image = folder.File(fileName);
        File.WriteAllBytes(image, png);
        var (status, api, _) = await PostAsync(client, "/v1/predict", Raw(png, "image/png"));
        Assert.Equal(HttpStatusCode.OK, status);
        string expected = api.GetProperty("top")[0].GetProperty("name").GetString()!;

        string screenshot = folder.File("page.png");
        var (code, stdout, stderr) = await RunNodeAsync(browser, "classify.mjs", server.Address.ToString(), image, screenshot);
        Assert.True(code == 0, $"node classify.mjs failed ({code}):\n{stdout}\n{stderr}");
        var shown = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement;
        Assert.Equal(expected, shown.GetProperty("top").GetString());
        var rows = shown.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("name").GetString()).ToList();
        Assert.Equal(api.GetProperty("top").EnumerateArray().Select(t => t.GetProperty("name").GetString()), rows);
        Assert.Matches(@"^server \d+\.\d ms, round trip \d+\.\d ms$", shown.GetProperty("latency").GetString());
        Assert.Equal("none", shown.GetProperty("orientation").GetString());   // the preview as the model sees it (no EXIF rotation)
        var header = File.ReadAllBytes(screenshot)[..8];
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, header);   // a PNG was written
        // every request of the page was answered: it asked for /favicon.ico, a 404 in every page load (walk D, session 28)
        var samples = PrometheusText.Parse(await client.GetStringAsync("/metrics"));
        Assert.Equal(0, PrometheusText.Sum(samples, "http_requests_received_total", ("code", "404")));
        Assert.Equal(1, PrometheusText.Sum(samples, "http_requests_received_total", ("code", "200"), ("endpoint", "/")));
    }

    /// <summary>After a refused upload the page showed the error but kept the previous image's data-top-class, so a script
    /// driving it read the last answer as this one's.</summary>
    [Fact]
    public async Task A_refused_upload_clears_the_previous_answer()
    {
        var shown = await AgainstTinyServerAsync("classify-then-fail.mjs");
        Assert.False(string.IsNullOrEmpty(shown.GetProperty("first").GetString()));   // the good image was answered
        Assert.Contains("not a decodable image", shown.GetProperty("error").GetString());
        Assert.Equal(JsonValueKind.Null, shown.GetProperty("topClass").ValueKind);
        Assert.True(shown.GetProperty("tableHidden").GetBoolean());
    }

    /// <summary>tests/browser/page-scenarios.mjs's SCENARIO against a served tiny model (<see cref="AgainstTinyServerAsync"/>).</summary>
    static Task<JsonElement> ScenarioAsync(string scenario, ParNet.Serving.ServingOptions? options = null) =>
        AgainstTinyServerAsync("page-scenarios.mjs", options, scenario);

    /// <summary>tests/browser/SCRIPT run with the address of a served tiny model, <paramref name="arguments"/>, a good image
    /// and a file the server refuses ("not an image"); the JSON line it printed last.</summary>
    static Task<JsonElement> AgainstTinyServerAsync(string script, params string[] arguments) => AgainstTinyServerAsync(script, null, arguments);

    /// <summary>As above, the server started with <paramref name="options"/> (default: <see cref="Loopback"/>).</summary>
    static async Task<JsonElement> AgainstTinyServerAsync(string script, ParNet.Serving.ServingOptions? options, params string[] arguments)
    {
        string browser = BrowserFolder();
        Assert.True(Directory.Exists(Path.Combine(browser, "node_modules", "playwright-core")),
            $"playwright-core is not installed: run `npm ci` in {browser} (.ci/run does), and `apt-get install chromium`");
        using var folder = new ExportTempFolder();
        await using var server = await StartReadyAsync(Open(TinyFashionWeights(folder)), options ?? Loopback());
        string good = folder.File("good.png"), bad = folder.File("bad.png");
        File.WriteAllBytes(good, Png(28, seed: 5));
        File.WriteAllText(bad, "not an image");
        var (code, stdout, stderr) = await RunNodeAsync(browser, [script, server.Address.ToString(), .. arguments, good, bad]);
        Assert.True(code == 0, $"node {script} {string.Join(" ", arguments)} failed ({code}):\n{stdout}\n{stderr}");
        return JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement.Clone();
    }

    /// <summary>The file input was `hidden` (display: none) and the drop area a plain label: nothing on the page took the
    /// keyboard's focus, so without a mouse no image could be chosen.</summary>
    [Fact]
    public async Task An_image_can_be_chosen_with_the_keyboard_alone()
    {
        var shown = await ScenarioAsync("keyboard");
        Assert.Equal("file", shown.GetProperty("focused").GetString());   // the first Tab reaches the file input
        Assert.True(shown.GetProperty("chooser").GetBoolean(), "Space on the focused input opened no file chooser");
        Assert.False(string.IsNullOrEmpty(shown.GetProperty("top").GetString()));
    }

    /// <summary>Two files chosen one after the other: the first one's answer, arriving after the second's refusal, filled
    /// the table and data-top-class under the second file's preview and error.</summary>
    [Fact]
    public async Task A_late_answer_for_an_earlier_image_is_not_shown()
    {
        var shown = await ScenarioAsync("stale");
        Assert.True(shown.GetProperty("firstAnswered").GetBoolean(), "the first image's late answer never arrived: nothing was tested");
        Assert.Contains("not a decodable image", shown.GetProperty("error").GetString());   // the second file's refusal stays
        Assert.Equal(JsonValueKind.Null, shown.GetProperty("topClass").ValueKind);
        Assert.True(shown.GetProperty("tableHidden").GetBoolean());
    }

    /// <summary>A server that went away (stopped, restarted elsewhere) showed the browser's bare "Failed to fetch".</summary>
    [Fact]
    public async Task A_server_that_does_not_answer_is_said_so()
    {
        var shown = await ScenarioAsync("gone");
        Assert.StartsWith("no answer from the server", shown.GetProperty("error").GetString());
    }

    /// <summary>An answer that is not JSON (a reverse proxy's 502 page in front of a stopped server) showed the JSON
    /// parser's "Unexpected token '<' ... is not valid JSON" instead of the HTTP status.</summary>
    [Fact]
    public async Task An_answer_that_is_not_json_shows_its_http_status()
    {
        var shown = await ScenarioAsync("proxy");
        Assert.StartsWith("HTTP 502", shown.GetProperty("error").GetString());
    }

    /// <summary>Several image files dropped at once: only the first was classified, and nothing said the others were left
    /// out. Each is answered in its place now (POST /v1/predict/batch), a file the server refuses beside the others.</summary>
    [Fact]
    public async Task Several_dropped_files_are_each_answered()
    {
        var shown = await ScenarioAsync("several");
        Assert.Equal("", shown.GetProperty("error").GetString());
        var rows = shown.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(new[] { "good.png", "bad.png", "second.png" }, rows.Select(r => r.GetProperty("file").GetString()));
        Assert.False(string.IsNullOrEmpty(rows[0].GetProperty("top").GetString()));
        Assert.Contains("not a decodable image", rows[1].GetProperty("error").GetString());
        Assert.Equal(JsonValueKind.Null, rows[1].GetProperty("top").ValueKind);
        Assert.Equal(rows[0].GetProperty("top").GetString(), rows[2].GetProperty("top").GetString());   // the same image
        // several answers are no one answer: data-top-class, which a script reads as the image's class, is not set
        Assert.Equal(JsonValueKind.Null, shown.GetProperty("topClass").ValueKind);
    }

    /// <summary>A selection of files went as one request: 33 images, or three that each fit but not together, were refused as a
    /// whole with no row per file (an audit of serve). The page splits them by the limits /readyz gives, and a file too large
    /// for any request gets its own row without being sent.</summary>
    [Fact]
    public async Task A_selection_is_sent_in_requests_within_the_servers_limits_a_row_per_file()
    {
        var shown = await ScenarioAsync("split", Loopback() with { MaxImagesPerRequest = 2, MaxBodyBytes = 1024 * 1024 });
        Assert.Equal("", shown.GetProperty("error").GetString());
        var rows = shown.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(["good.png", "bad.png", "big.png", "second.png", "third.png"], rows.Select(r => r.GetProperty("file").GetString()));
        Assert.Equal(2, shown.GetProperty("requests").GetInt32());   // [good, bad], [second, third]; big.png not sent
        Assert.Equal("big.png is 1.4 MiB, more than the server takes in one request (1.0 MiB)", rows[2].GetProperty("error").GetString());
        Assert.Contains("not a decodable image", rows[1].GetProperty("error").GetString());
        string top = rows[0].GetProperty("top").GetString()!;
        Assert.False(string.IsNullOrEmpty(top));
        Assert.All(new[] { rows[3], rows[4] }, r => Assert.Equal(top, r.GetProperty("top").GetString()));   // the same image
        Assert.StartsWith("5 images, 3 classified, 2 refused: server ", shown.GetProperty("latency").GetString());
        Assert.Contains(" in 2 requests, round trip ", shown.GetProperty("latency").GetString());
    }

    /// <summary>Opened while the server warmed up, the page asked /readyz once and said "warming up" for ever (an audit of serve).</summary>
    [Fact]
    public async Task A_page_opened_during_the_warm_up_says_ready_once_the_server_is()
    {
        var shown = await ScenarioAsync("warming");
        Assert.Equal("warming up", shown.GetProperty("first").GetString());
        Assert.EndsWith("(ready)", shown.GetProperty("model").GetString());
    }

    /// <summary>A screen reader met an unnamed column header (the bars') and two tables without names; the preview's alt
    /// was "the uploaded image" whatever the file, and a file that is not an image showed a broken-image icon (an audit of serve).</summary>
    [Fact]
    public async Task The_tables_and_the_preview_are_named_and_a_non_image_shows_no_preview()
    {
        var shown = await ScenarioAsync("a11y");
        Assert.Equal(["#", "class", "probability", "probability bar"], shown.GetProperty("headers").EnumerateArray().Select(h => h.GetString()));
        Assert.Equal(["Most probable classes of the image", "Most probable class of each file"],
                     shown.GetProperty("captions").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal("preview of good.png", shown.GetProperty("alt").GetString());
        Assert.False(shown.GetProperty("shownAfterBad").GetBoolean(), "the preview of a file that is not an image is shown (a broken-image icon)");
    }

    /// <summary>After an error (the server away), choosing the same file again did nothing: the input still held it, so the
    /// browser fired no change event. The input is emptied after each choice.</summary>
    [Fact]
    public async Task The_same_file_can_be_chosen_again_after_an_error()
    {
        var shown = await ScenarioAsync("again");
        Assert.StartsWith("no answer from the server", shown.GetProperty("firstError").GetString());
        Assert.Equal("", shown.GetProperty("valueAfterChoice").GetString());
        Assert.False(string.IsNullOrEmpty(shown.GetProperty("top").GetString()), "choosing the same file again classified nothing");
    }

    /// <summary>The page asked for /readyz and /v1/predict by absolute paths: behind a reverse proxy that serves the app
    /// under a sub-path (/sub/) those went to the proxy's root, and neither the model line nor a classification worked.</summary>
    [Fact]
    public async Task The_page_works_under_a_sub_path()
    {
        var shown = await ScenarioAsync("subpath");
        Assert.Contains("ready", shown.GetProperty("model").GetString());
        Assert.Equal("", shown.GetProperty("error").GetString());
        Assert.False(string.IsNullOrEmpty(shown.GetProperty("top").GetString()));
    }

    /// <summary>The latency line (and with it "classifying...") was in no live region: a screen reader announced nothing
    /// when an answer came. Errors are in an alert.</summary>
    [Fact]
    public async Task Results_and_errors_are_announced_to_screen_readers()
    {
        var shown = await ScenarioAsync("live");
        Assert.Matches(@"^server \d+\.\d ms, round trip \d+\.\d ms$", shown.GetProperty("latency").GetString());
        Assert.Equal("polite", shown.GetProperty("latencyLive").GetString());
        Assert.Equal("status", shown.GetProperty("latencyRole").GetString());
        Assert.Equal("alert", shown.GetProperty("errorRole").GetString());
    }

    static async Task<(int Code, string Out, string Err)> RunNodeAsync(string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"node {string.Join(' ', args)} did not finish within 120 s");
        }
        return (process.ExitCode, await stdout, await stderr);
    }
}
