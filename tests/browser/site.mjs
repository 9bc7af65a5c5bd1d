// openmic's status site as a reader sees it, in Debian's chromium (headless):
// node site.mjs <base URL> <screenshot dir>
// Exits non-zero, naming the check, if the site shows something it must not, or
// lacks something it must.
import { check, finish, launch } from "./harness.mjs";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";

const [base, shots] = process.argv.slice(2);
if (!base || !shots) {
  console.error("usage: node site.mjs <base URL> <screenshot dir>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const browser = await launch();

const dialogs = [];

const FORBIDDEN = ["carol", "alice", "bob", "mallory", "oncall", "@", "Login page slow", "Mallory's incident", "password"];

async function visit(context, path) {
  const page = await context.newPage();
  page.on("dialog", async (d) => { dialogs.push(`${path}: ${d.message()}`); await d.dismiss(); });
  const response = await page.goto(base + path);
  assert.equal(response.status(), 200, `${path} answers 200`);
  return page;
}

for (const javaScriptEnabled of [false, true]) {
  const mode = javaScriptEnabled ? "JavaScript on" : "JavaScript off";
  const context = await browser.newContext({ javaScriptEnabled, viewport: { width: 1000, height: 900 } });

  const index = await visit(context, "/");
  await check(`${mode}: index shows the state, the open incident and the history`, async () => {
    assert.equal(await index.locator("html").getAttribute("lang"), "en");
    assert.equal(await index.locator("h1").innerText(), "Service status");
    assert.equal(await index.locator("main").count(), 1);
    assert.match(await index.locator(".banner").innerText(), /Major outage/);
    const open = await index.locator("section[aria-labelledby=open-heading] h3").allInnerTexts();
    assert.deepEqual(open, ["Checkout failures"]);
    const history = await index.locator("section[aria-labelledby=history-heading] h3").allInnerTexts();
    assert.deepEqual(history, ["API errors 🔥 for Incident Responder's customers"]);
    const stages = await index.locator(".card .tag[class*=stage-]").allInnerTexts();
    assert.deepEqual(stages, ["Identified", "Resolved"]);
    const components = await index.locator(".lines > li .line").allInnerTexts();
    assert.deepEqual(components.map((c) => c.replace(/\s+/g, " ").trim()), ["payments Major outage"]);
  });
  await check(`${mode}: index leaks no name and nothing unpublished`, async () => {
    const text = await index.locator("body").innerText();
    for (const word of FORBIDDEN) assert.ok(!text.includes(word), `index shows ${JSON.stringify(word)}`);
  });
  await check(`${mode}: headings in order, no external resources`, async () => {
    const levels = await index.locator("h1, h2, h3").evaluateAll((hs) => hs.map((h) => Number(h.tagName[1])));
    for (let i = 1; i < levels.length; i++) assert.ok(levels[i] <= levels[i - 1] + 1, `heading levels ${levels}`);
    const external = await index.locator("link[href^=http], img[src^=http]").count();
    assert.equal(external, 0);
    // The one script is the site's own.
    const scripts = await index.locator("script").evaluateAll((ss) => ss.map((s) => s.src));
    assert.equal(scripts.length, 1, scripts.join(" "));
    assert.ok(scripts.every((src) => new URL(src).origin === new URL(base).origin && /\/live\.[0-9a-f]+\.js$/.test(src)), scripts.join(" "));
  });
  if (!javaScriptEnabled) await index.screenshot({ path: `${shots}/index.png`, fullPage: true });

  await index.locator("a", { hasText: "API errors" }).first().click();
  const incident = index;
  await check(`${mode}: incident page shows title, stage, comments in order`, async () => {
    assert.ok(incident.url().endsWith("/incidents/1.html"), incident.url());
    assert.equal(await incident.locator("h1").innerText(), "API errors 🔥 for Incident Responder's customers");
    assert.equal(await incident.locator("article .tag").first().innerText(), "Resolved");
    const updates = await incident.locator("ol.timeline > li .content").allInnerTexts();
    assert.equal(updates.length, 3, JSON.stringify(updates));
    assert.match(updates[0], /^We are looking into elevated error rates\. cc Incident Responder/);
    assert.match(updates[1], /^Root cause: see ops\/api#9 and #12, fix in !3\./);
    assert.match(updates[2], /^A fix is rolling out 🚀/);
    const times = await incident.locator("ol.timeline time").evaluateAll((ts) => ts.map((t) => t.getAttribute("datetime")));
    assert.deepEqual(times, [...times].sort());
  });
  await check(`${mode}: the attachment shows and nothing hostile survives`, async () => {
    const img = incident.locator("img.gl-image");
    assert.equal(await img.count(), 1);
    assert.ok(await img.evaluate((i) => i.complete && i.naturalWidth > 0), "the copied upload loads");
    assert.equal(await incident.locator("main script, iframe, object, embed, form").count(), 0);
    const handlers = await incident.locator("*").evaluateAll((els) =>
      els.flatMap((e) => [...e.attributes].filter((a) => a.name.startsWith("on")).map((a) => `${e.tagName} ${a.name}`)));
    assert.deepEqual(handlers, []);
    const text = await incident.locator("body").innerText();
    for (const word of FORBIDDEN) assert.ok(!text.includes(word), `incident page shows ${JSON.stringify(word)}`);
    const links = await incident.locator("main a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    assert.ok(!links.some((h) => h && h.includes("gitlab.example.com")), `links into GitLab: ${links}`);
  });
  if (!javaScriptEnabled) await incident.screenshot({ path: `${shots}/incident-1.png`, fullPage: true });
  await context.close();
}

await check("no alert dialog from the hostile vectors", async () => assert.deepEqual(dialogs, []));

// Phone width, dark preference: still readable, no horizontal scroll of the page.
const phone = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 360, height: 740 }, colorScheme: "dark" });
const small = await phone.newPage();
await small.goto(base + "/incidents/1.html");
await check("phone width: no page-wide horizontal scroll; dark mode applies", async () => {
  const [scroll, client] = await small.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(scroll <= client + 1, `page scrolls sideways: ${scroll} > ${client}`);
  const bg = await small.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, "rgb(18, 19, 22)");
});
await small.screenshot({ path: `${shots}/incident-1-phone-dark.png`, fullPage: true });
await finish(browser, "browser");
