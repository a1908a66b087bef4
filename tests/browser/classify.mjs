// Drives parnet serve's web page in Debian's chromium (headless): chooses IMAGE in the page's file input, waits for the
// table of classes, writes a screenshot and prints {"top": NAME, "rows": [...], "latency": TEXT, "orientation": CSS} as one
// JSON line (orientation: the preview's computed image-orientation).
// Usage: node classify.mjs URL IMAGE SCREENSHOT.png   (playwright-core never downloads a browser; CHROMIUM overrides the path)
import { chromium } from "playwright-core";

const [url, image, screenshot] = process.argv.slice(2);
if (!url || !image || !screenshot) {
  console.error("usage: node classify.mjs URL IMAGE SCREENSHOT.png");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],   // root in CI; no GPU; small /dev/shm in containers
});
try {
  const page = await browser.newPage({ viewport: { width: 800, height: 720 } });
  await page.goto(url, { timeout: 30000 });
  await page.locator("#model").filter({ hasText: "ready" }).waitFor({ timeout: 30000 });
  await page.setInputFiles("#file", image);
  await page.waitForFunction(() => document.body.dataset.topClass !== undefined, null, { timeout: 30000 });
  const rows = await page.locator("#results tbody tr").evaluateAll(trs => trs.map(tr => ({
    name: tr.querySelector(".class-name").textContent,
    probability: tr.cells[2].textContent,
  })));
  const shown = await page.locator("#results tbody tr:first-child .class-name").textContent();
  const latency = await page.locator("#latency").textContent();
  await page.screenshot({ path: screenshot, fullPage: true });
  const orientation = await page.locator("#preview").evaluate(img => getComputedStyle(img).imageOrientation);
  console.log(JSON.stringify({ top: shown, rows, latency, orientation }));
} finally {
  await browser.close();
}
