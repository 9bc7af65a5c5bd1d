// openmic's status site with ten components, 90 days of history and 45 incidents, in
// Debian's chromium (headless): the strips read from the accessibility tree, the
// archive reaching every incident, the 404 page, a publish showing up without a
// reload, a German page, and axe-core's checks (light and dark) with no violation.
// node big.mjs <base URL> <German site's base URL>
// With OPENMIC_SCREENSHOTS=<folder>, also writes the pictures the docs show there:
// status-page.png (all operational), status-page-incident.png and
// status-page-incident-dark.png (an incident open), incident.png (its page).
// Prints "publish" and waits for a line on stdin once the page is open: the caller
// publishes the 45th incident, then answers.
import { check, finish, launch } from "./harness.mjs";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

const [base, german] = process.argv.slice(2);
if (!base || !german) {
  console.error("usage: node big.mjs <base URL> <German site's base URL>");
  process.exit(2);
}
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const browser = await launch();

// The docs' pictures, when asked for: the viewport as a reader first sees it.
const pictures = process.env.OPENMIC_SCREENSHOTS;
if (pictures) mkdirSync(pictures, { recursive: true });
async function picture(page, name) {
  if (pictures) await page.screenshot({ path: `${pictures}/${name}`, animations: "disabled" });
}

async function axe(page) {
  await page.addScriptTag({ content: axeSource });
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

// The live update, with JavaScript: the page open, a publish, the page follows.
{
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page = await context.newPage();
  await page.clock.install();
  await page.goto(base + "/");
  await picture(page, "status-page.png");
  await check("JavaScript on: the strips are named per day in the accessibility tree", async () => {
    const strips = page.locator("ol.days");
    assert.equal(await strips.count(), 10, "ten components, ten strips");
    const tree = await strips.first().ariaSnapshot();
    assert.match(tree, /list "API: the last 90 days"/, tree.slice(0, 300));
    const days = tree.split("\n").filter((l) => l.includes("listitem"));
    assert.equal(days.length, 90, "90 days");
    assert.match(tree, /link "\d{1,2} \w{3} \d{4}: (major outage|partial outage|degraded performance), 1 incident"/);
    await page.locator("ol.days").first().locator("li[tabindex]").last().focus();
    await page.keyboard.press("ArrowLeft");
    const focused = await page.evaluate(() => document.activeElement.closest("li")?.innerText);
    assert.match(focused, /\d{4}: /, "arrow keys move through the days");
  });
  await check("JavaScript on: uptime over 30 and 90 days per component", async () => {
    const text = await page.locator("#components").innerText();
    assert.match(text, /Uptime \d+(\.\d+)?% over 30 days, \d+(\.\d+)?% over 90 days/);
  });
  const before = await page.locator("#open").innerText();
  await check("JavaScript on: a publish shows up without a reload", async () => {
    assert.ok(!before.includes("Incident 45"), before);
    await page.evaluate(() => { window.notReloaded = true; });
    console.log("publish");
    await lines.next();
    await page.clock.fastForward(31_000);
    await page.locator("#open", { hasText: "Incident 45 on Login" }).waitFor({ timeout: 10_000 });
    assert.equal(await page.evaluate(() => window.notReloaded), true, "the page was not reloaded");
  });
  await context.close();
}

// The page with the incident just published, light and dark, and the incident's page.
if (pictures) {
  for (const colorScheme of ["light", "dark"]) {
    const context = await browser.newContext({ colorScheme, viewport: { width: 1000, height: 900 } });
    const page = await context.newPage();
    await page.goto(base + "/");
    await check(`pictures, ${colorScheme}: the index shows the open incident`, async () => {
      await page.locator("#open", { hasText: "Incident 45 on Login" }).waitFor({ timeout: 10_000 });
    });
    if (colorScheme === "light") {
      await picture(page, "status-page-incident.png");
      await page.locator("#open a", { hasText: "Incident 45 on Login" }).first().click();
      await picture(page, "incident.png");
    } else {
      await picture(page, "status-page-incident-dark.png");
    }
    await context.close();
  }
}

for (const javaScriptEnabled of [false, true]) {
  const mode = javaScriptEnabled ? "JavaScript on" : "JavaScript off";
  const context = await browser.newContext({ javaScriptEnabled, viewport: { width: 1000, height: 900 } });
  const page = await context.newPage();
  await check(`${mode}: the archive reaches all 45 incidents`, async () => {
    await page.goto(base + "/");
    const months = await page.locator("#archive a").evaluateAll((as) => as.map((a) => a.href));
    assert.ok(months.length >= 3, `archive months: ${months}`);
    const seen = new Set();
    for (const m of months) {
      const r = await page.goto(m);
      assert.equal(r.status(), 200, m);
      const links = await page.locator("main a[href*='incidents/']").evaluateAll((as) => as.map((a) => a.href));
      for (const l of links) seen.add(l);
    }
    assert.equal(seen.size, 45, [...seen].join(" "));
    for (const l of seen) {
      const r = await page.request.get(l);
      assert.equal(r.status(), 200, l);
    }
  });
  await check(`${mode}: an unknown address answers the 404 page`, async () => {
    const r = await page.goto(base + "/incidents/999.html");
    assert.equal(r.status(), 404);
    assert.equal(await page.locator("h1").innerText(), "Page not found");
    await page.locator("a", { hasText: "Go to the status page" }).click();
    assert.equal(await page.locator("h1").innerText(), "Service status");
  });
  await context.close();
}

await check("German: the page, its dates and its strips in German", async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(german + "/");
  assert.equal(await page.locator("html").getAttribute("lang"), "de");
  assert.equal(await page.locator("h1").innerText(), "Dienststatus");
  const text = await page.locator("main").innerText();
  assert.match(text, /Komponenten/);
  assert.match(text, /Verfügbarkeit .* in 30 Tagen/);
  assert.match(await page.locator("ol.days").first().ariaSnapshot(), /die letzten 90 Tage/);
  await context.close();
});

for (const colorScheme of ["light", "dark"]) {
  const context = await browser.newContext({ colorScheme, bypassCSP: true, viewport: { width: 1000, height: 900 } });
  const page = await context.newPage();
  await page.goto(base + "/");
  const month = await page.locator("#archive a").first().getAttribute("href");
  for (const path of ["/", "/incidents/100.html", `/${month}`, "/nothing-here.html"]) {
    await check(`axe-core, ${colorScheme}: ${path} has no violation`, async () => {
      await page.goto(base + path);
      assert.deepEqual(await axe(page), []);
    });
  }
  await context.close();
}

await finish(browser, "big site");
