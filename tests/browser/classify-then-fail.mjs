// Drives parnet serve's web page in Debian's chromium (headless): classifies GOOD (waits for its table), then chooses BAD,
// which the server refuses, and prints {"first": NAME, "error": TEXT, "topClass": VALUE|null, "tableHidden": BOOL} as one
// JSON line: what a script driving the page reads after the refusal.
// Usage: node classify-then-fail.mjs URL GOOD_IMAGE BAD_FILE   (playwright-core never downloads a browser; CHROMIUM overrides the path)
import { chromium } from "playwright-core";

const [url, good, bad] = process.argv.slice(2);
if (!url || !good || !bad) {
  console.error("usage: node classify-then-fail.mjs URL GOOD_IMAGE BAD_FILE");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  await page.goto(url, { timeout: 30000 });
  await page.locator("#model").filter({ hasText: "ready" }).waitFor({ timeout: 30000 });
  await page.setInputFiles("#file", good);
  await page.waitForFunction(() => document.body.dataset.topClass !== undefined, null, { timeout: 30000 });
  const first = await page.evaluate(() => document.body.dataset.topClass);
  await page.setInputFiles("#file", bad);
  await page.waitForFunction(() => document.getElementById("error").textContent !== "", null, { timeout: 30000 });
  console.log(JSON.stringify(await page.evaluate(first => ({
    first,
    error: document.getElementById("error").textContent,
    topClass: document.body.dataset.topClass ?? null,
    tableHidden: document.getElementById("results").hidden,
  }), first)));
} finally {
  await browser.close();
}
