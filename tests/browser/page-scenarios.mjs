// Drives parnet serve's web page in Debian's chromium (headless) through one SCENARIO and prints what the page then shows
// as one JSON line:
//   keyboard  Tab from the top of the page, Space on what has the focus, GOOD_IMAGE chosen in the file chooser that opens:
//             {"focused": ID, "chooser": BOOL, "top": NAME|null}
//   stale     GOOD_IMAGE chosen, its answer held back 3 s in the browser, BAD_FILE (which the server refuses) chosen meanwhile;
//             after the first answer has arrived: {"error": TEXT, "topClass": VALUE|null, "tableHidden": BOOL, "firstAnswered": BOOL}
//   gone      the server does not answer /v1/predict (the connection is refused): {"error": TEXT}
//   proxy     /v1/predict answered 502 with an HTML page, as a reverse proxy in front of a stopped server does: {"error": TEXT}
//   several   GOOD_IMAGE, BAD_FILE and GOOD_IMAGE again (as "second.png") dropped at once on the drop area:
//             {"rows": [{"file": NAME, "top": NAME|null, "error": TEXT|null}...], "topClass": VALUE|null, "error": TEXT}
//   again     GOOD_IMAGE chosen while the server does not answer (the connection is refused), then, the server back,
//             the same file chosen again in the file chooser: {"firstError": TEXT, "valueAfterChoice": TEXT, "top": NAME|null}
//   subpath   the page opened at URL/sub/ through a reverse proxy (routed in the browser) that serves the app only under
//             /sub/ and answers 404 elsewhere, GOOD_IMAGE chosen: {"model": TEXT, "top": NAME|null, "error": TEXT}
//   live      GOOD_IMAGE chosen: the live regions that hold what the page then says:
//             {"latency": TEXT, "latencyLive": VALUE|null, "latencyRole": VALUE|null, "errorLive": VALUE|null, "errorRole": VALUE|null}
//   split     against a server that takes 2 images and 1 MiB a request: GOOD_IMAGE, BAD_FILE, "big.png" (1.5 MB, too large
//             for any request), GOOD_IMAGE as "second.png" and as "third.png" dropped at once:
//             {"rows": [{"file", "top", "error"}...], "requests": N (to /v1/predict/batch), "latency": TEXT, "error": TEXT}
//   warming   the page opened while /readyz answers 503 "warming up" (its first answer, simulated), then the server's own:
//             {"first": TEXT, "model": TEXT} (the model line shown first, and once it says "ready" or after 10 s)
//   a11y      GOOD_IMAGE chosen, then BAD_FILE: {"headers": [TEXT...] (of the classes table), "captions": [TEXT...],
//             "alt": TEXT (the preview's, for GOOD_IMAGE), "shownAfterBad": BOOL (the preview's display after BAD_FILE)}
// Usage: node page-scenarios.mjs URL SCENARIO GOOD_IMAGE BAD_FILE   (playwright-core never downloads a browser; CHROMIUM overrides the path)
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { chromium } from "playwright-core";

const [url, scenario, good, bad] = process.argv.slice(2);
if (!url || !scenario || !good || !bad) {
  console.error("usage: node page-scenarios.mjs URL keyboard|stale|gone|proxy|several|again|subpath|live|split|warming|a11y GOOD_IMAGE BAD_FILE");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const errorShown = () => document.getElementById("error").textContent !== "";
const topShown = () => document.body.dataset.topClass !== undefined;
// files [{name, bytes}] dropped at once on the drop area, as the browser delivers a drop: one DataTransfer holding them all;
// returns once the page says its round trip or an error
async function dropAndWait(page, files) {
  const dataTransfer = await page.evaluateHandle(files => {
    const transfer = new DataTransfer();
    for (const f of files) transfer.items.add(new File([new Uint8Array(f.bytes)], f.name, { type: "image/png" }));
    return transfer;
  }, files);
  await page.dispatchEvent("#drop", "drop", { dataTransfer });
  await page.waitForFunction(() => document.getElementById("latency").textContent.includes("round trip")
    || document.getElementById("error").textContent !== "", null, { timeout: 30000 });
}
// the batch table's rows as the page marks them (its source is put into the expressions evaluated in the page)
const batchRows = () => [...document.querySelectorAll("#batch tbody tr")].map(r => ({
  file: r.dataset.file ?? null, top: r.dataset.top ?? null, error: r.dataset.error ?? null }));
try {
  const page = await browser.newPage();
  let result;
  if (scenario === "warming") {
    let asked = 0;
    await page.route("**/readyz", route => asked++ === 0
      ? route.fulfill({ status: 503, contentType: "application/json", body: JSON.stringify({ status: "warming up", max_images_per_request: 32, max_body_bytes: 16777216 }) })
      : route.continue());
    await page.goto(url, { timeout: 30000 });
    await page.locator("#model").filter({ hasText: "warming up" }).waitFor({ timeout: 30000 });
    const first = await page.locator("#model").textContent();
    await page.locator("#model").filter({ hasText: "(ready)" }).waitFor({ timeout: 10000 }).catch(() => null);
    result = { first, model: await page.locator("#model").textContent() };
  } else if (scenario === "subpath") {
    // the proxy: /sub/PATH is the app's /PATH, anything else is not this app's (a 404 page, as a shared host answers)
    const origin = new URL(url).origin;
    await page.route(() => true, async route => {
      const asked = new URL(route.request().url());
      if (asked.origin !== origin) return route.continue();
      if (!asked.pathname.startsWith("/sub/"))
        return route.fulfill({ status: 404, contentType: "text/html", body: "<html><body>not found</body></html>" });
      // sent on with its own body (route.fetch would send it without the bytes of an uploaded file)
      await route.continue({ url: origin + asked.pathname.slice(4) + asked.search });
    });
    await page.goto(new URL("sub/", url).href, { timeout: 30000 });
    await page.waitForFunction(() => !document.getElementById("model").textContent.startsWith("loading"), null, { timeout: 30000 });
    await page.setInputFiles("#file", good);
    await page.waitForFunction(() => document.body.dataset.topClass !== undefined || document.getElementById("error").textContent !== "",
      null, { timeout: 30000 });
    result = await page.evaluate(() => ({
      model: document.getElementById("model").textContent,
      top: document.body.dataset.topClass ?? null,
      error: document.getElementById("error").textContent,
    }));
  } else {
    await page.goto(url, { timeout: 30000 });
    await page.locator("#model").filter({ hasText: "ready" }).waitFor({ timeout: 30000 });
  }
  if (scenario === "subpath" || scenario === "warming") {
    // answered above
  } else if (scenario === "keyboard") {
    // waited for before the Tab: a "filechooser" listener makes Playwright turn the browser's chooser interception on, a
    // round trip of its own, and a key pressed right after it could overtake it (the chooser then opened natively, unseen,
    // and no event came: "Space on the focused input opened no file chooser", twice in fresh-clone CI runs, once after
    // 5 s and once after 30 s; a click waits for its element first and so leaves the time). The Tab and the evaluate
    // below are two more round trips in order behind it.
    const chooser = page.waitForEvent("filechooser", { timeout: 30000 }).catch(() => null);
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => document.activeElement.id || document.activeElement.tagName);
    await page.keyboard.press("Space");
    const opened = await chooser;
    let top = null;
    if (opened) {
      await opened.setFiles(good);
      await page.waitForFunction(() => document.body.dataset.topClass !== undefined, null, { timeout: 30000 });
      top = await page.evaluate(() => document.body.dataset.topClass);
    }
    result = { focused, chooser: opened !== null, top };
  } else if (scenario === "stale") {
    let requests = 0, first = null;
    await page.route("**/v1/predict", async route => {
      if (requests++ === 0) {   // the first image's answer comes late
        first = route.request();
        await new Promise(done => setTimeout(done, 3000));
      }
      await route.continue();
    });
    // awaited, not assumed after a fixed wait: on a loaded machine the late answer could still be on its way, and the
    // page then showed nothing of it whether or not it would have
    const firstAnswered = new Promise(done => page.on("requestfinished", request => { if (request === first) done(true); }));
    await page.setInputFiles("#file", good);
    await page.waitForTimeout(300);
    await page.setInputFiles("#file", bad);
    await page.waitForFunction(errorShown, null, { timeout: 30000 });
    const answered = await Promise.race([firstAnswered, new Promise(done => setTimeout(() => done(false), 30000).unref())]);   // unref: the process need not wait it out
    await page.waitForTimeout(500);   // the page's own handling of that answer (its body read, then the page updated)
    result = await page.evaluate(() => ({
      error: document.getElementById("error").textContent,
      topClass: document.body.dataset.topClass ?? null,
      tableHidden: document.getElementById("results").hidden,
    }));
    result.firstAnswered = answered;
  } else if (scenario === "gone" || scenario === "proxy") {
    await page.route("**/v1/predict", route => scenario === "gone"
      ? route.abort("connectionrefused")
      : route.fulfill({ status: 502, contentType: "text/html", body: "<html><body><h1>502 Bad Gateway</h1></body></html>" }));
    await page.setInputFiles("#file", good);
    await page.waitForFunction(errorShown, null, { timeout: 30000 });
    result = { error: await page.locator("#error").textContent() };
  } else if (scenario === "several") {
    await dropAndWait(page, [[basename(good), good], [basename(bad), bad], ["second.png", good]]
      .map(([name, path]) => ({ name, bytes: [...readFileSync(path)] })));
    result = await page.evaluate(`({ rows: (${batchRows})(), topClass: document.body.dataset.topClass ?? null,
      error: document.getElementById("error").textContent })`);
  } else if (scenario === "split") {
    let requests = 0;
    page.on("request", request => { if (request.url().endsWith("/v1/predict/batch")) requests++; });
    const big = Array.from({ length: 1500000 }, (_, i) => i % 251);
    const files = [[basename(good), [...readFileSync(good)]], [basename(bad), [...readFileSync(bad)]], ["big.png", big],
                   ["second.png", [...readFileSync(good)]], ["third.png", [...readFileSync(good)]]].map(([name, bytes]) => ({ name, bytes }));
    await dropAndWait(page, files);
    result = await page.evaluate(`({ rows: (${batchRows})(), latency: document.getElementById("latency").textContent,
      error: document.getElementById("error").textContent })`);
    result.requests = requests;
  } else if (scenario === "a11y") {
    await page.setInputFiles("#file", good);
    await page.waitForFunction(topShown, null, { timeout: 30000 });
    const shown = await page.evaluate(() => ({
      headers: [...document.querySelectorAll("#results th")].map(th => th.textContent),
      captions: [...document.querySelectorAll("caption")].map(c => c.textContent),
      alt: document.getElementById("preview").alt,
    }));
    await page.setInputFiles("#file", bad);
    await page.waitForFunction(errorShown, null, { timeout: 30000 });
    await page.waitForFunction(() => getComputedStyle(document.getElementById("preview")).display === "none", null, { timeout: 5000 }).catch(() => null);
    shown.shownAfterBad = await page.evaluate(() => getComputedStyle(document.getElementById("preview")).display !== "none");
    result = shown;
  } else if (scenario === "again") {
    let refuse = true;
    await page.route("**/v1/predict", route => refuse ? route.abort("connectionrefused") : route.continue());
    const choose = async () => {
      const chooser = page.waitForEvent("filechooser", { timeout: 30000 });
      await page.locator("#drop").click();
      await (await chooser).setFiles(good);
    };
    await choose();
    await page.waitForFunction(errorShown, null, { timeout: 30000 });
    const firstError = await page.locator("#error").textContent();
    const valueAfterChoice = await page.evaluate(() => document.getElementById("file").value);
    refuse = false;   // the server is back
    await choose();
    const top = await page.waitForFunction(topShown, null, { timeout: 5000 })
      .then(() => page.evaluate(() => document.body.dataset.topClass)).catch(() => null);
    result = { firstError, valueAfterChoice, top };
  } else if (scenario === "live") {
    await page.setInputFiles("#file", good);
    await page.waitForFunction(topShown, null, { timeout: 30000 });
    result = await page.evaluate(() => {
      const live = id => document.getElementById(id).closest("[aria-live], [role=alert], [role=status]");
      const latency = live("latency"), error = live("error");
      return {
        latency: document.getElementById("latency").textContent,
        latencyLive: latency?.getAttribute("aria-live") ?? null, latencyRole: latency?.getAttribute("role") ?? null,
        errorLive: error?.getAttribute("aria-live") ?? null, errorRole: error?.getAttribute("role") ?? null,
      };
    });
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
