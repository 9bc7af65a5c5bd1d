// A closed incident's published postmortem as a reader sees it, in Debian's chromium
// (headless), with JavaScript off and on: node postmortem.mjs <base URL>
// Its own section on the incident's page (not among the updates), the mark
// "Postmortem published" on the index and the month's archive, one feed entry.
import { check, finish, launch } from "./harness.mjs";
import assert from "node:assert/strict";

const [base] = process.argv.slice(2);
if (!base) {
  console.error("usage: node postmortem.mjs <base URL>");
  process.exit(2);
}

const browser = await launch();

async function visit(context, path) {
  const page = await context.newPage();
  const response = await page.goto(base + path);
  assert.equal(response.status(), 200, `${path} answers 200`);
  return page;
}

for (const javaScriptEnabled of [false, true]) {
  const mode = javaScriptEnabled ? "JavaScript on" : "JavaScript off";
  const context = await browser.newContext({ javaScriptEnabled, timezoneId: "UTC", locale: "en-GB" });

  await check(`${mode}: the incident's page has the postmortem's own section`, async () => {
    const page = await visit(context, "/incidents/1.html");
    const section = page.locator("section#postmortem");
    assert.equal(await section.count(), 1);
    assert.equal(await section.locator("h2").innerText(), "Postmortem");
    const text = await section.innerText();
    assert.match(text, /A configuration change sent all traffic to one region\./);
    assert.match(text, /Published 2 Mar 2024, 09:05/);
    assert.equal(await section.locator("strong").innerText(), "all");
    // Not an update as well, and the heading line is the page's, not the note's.
    const updates = await page.locator("section[aria-labelledby=updates-heading]").innerText();
    assert.doesNotMatch(updates, /region by region/);
    assert.equal(await page.locator("h2", { hasText: "Postmortem" }).count(), 1);
  });

  await check(`${mode}: the index marks it`, async () => {
    const page = await visit(context, "/");
    const card = page.locator("#incident-1");
    const mark = card.locator("a.postmortem");
    assert.equal(await mark.innerText(), "Postmortem published");
    assert.match(await mark.getAttribute("href"), /incidents\/1\.html#postmortem$/);
  });

  await check(`${mode}: the month's archive marks it, and the mark leads to it`, async () => {
    const page = await visit(context, "/history/2024-03.html");
    const mark = page.locator("#incident-1 a.postmortem");
    assert.equal(await mark.innerText(), "Postmortem published");
    await mark.click();
    await page.waitForURL(/incidents\/1\.html#postmortem$/);
    assert.ok(await page.locator("section#postmortem").isVisible());
  });

  await check(`${mode}: the feed has one entry for it`, async () => {
    const response = await context.request.get(base + "/feed.atom");
    assert.equal(response.status(), 200);
    const feed = await response.text();
    const ids = feed.match(/<id>[^<]*#postmortem<\/id>/g) || [];
    assert.equal(ids.length, 1, feed);
    assert.match(feed, /<title type="html">Postmortem: API errors/);
  });
  await context.close();
}
await finish(browser, "postmortem");
