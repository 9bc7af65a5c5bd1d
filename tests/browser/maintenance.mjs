// A scheduled maintenance as a reader sees it, in Debian's chromium (headless), at one
// of its stages: node maintenance.mjs <base URL> scheduled|in_progress|completed
// The reader is in Berlin (UTC+1 in December): with JavaScript on, times show in their
// zone beside UTC; with it off, the page says everything in UTC.
import { check, finish, launch } from "./harness.mjs";
import assert from "node:assert/strict";

const [base, stage] = process.argv.slice(2);
if (!base || !["scheduled", "in_progress", "completed"].includes(stage)) {
  console.error("usage: node maintenance.mjs <base URL> scheduled|in_progress|completed");
  process.exit(2);
}

const browser = await launch();

const TITLE = "Database upgrade";
for (const javaScriptEnabled of [false, true]) {
  const mode = `${stage}, JavaScript ${javaScriptEnabled ? "on" : "off"}`;
  const context = await browser.newContext({ javaScriptEnabled, timezoneId: "Europe/Berlin", locale: "en-GB" });
  const page = await context.newPage();
  assert.equal((await page.goto(base + "/")).status(), 200);
  const banner = page.locator("#banner");
  const upcoming = page.locator("#maintenance");
  const database = page.locator(".line", { has: page.locator("h3", { hasText: "Database" }) });

  await check(`${mode}: the index`, async () => {
    if (stage === "scheduled") {
      assert.doesNotMatch(await banner.innerText(), /maintenance/i, "no banner ahead of time");
      assert.equal(await upcoming.locator("h2").innerText(), "Scheduled maintenance");
      assert.match(await upcoming.innerText(), new RegExp(TITLE));
      assert.match(await upcoming.innerText(), /1 Dec 2026, 02:00 UTC/);
      assert.equal(await database.locator(".state").innerText(), "Operational");
    } else if (stage === "in_progress") {
      assert.match(await banner.innerText(), /^Under maintenance$/m);
      assert.match(await banner.innerText(), new RegExp(`Maintenance in progress: ${TITLE}, until 1 Dec 2026, 04:00 UTC`));
      assert.equal(await database.locator(".state").innerText(), "Under maintenance");
    } else {
      assert.doesNotMatch(await banner.innerText(), /maintenance/i, "no banner once completed");
      assert.doesNotMatch(await upcoming.innerText(), new RegExp(TITLE));
      assert.match(await page.locator("#recent").innerText(), new RegExp(TITLE));
      assert.equal(await database.locator(".state").innerText(), "Operational");
    }
  });

  await check(`${mode}: times in the reader's zone only with JavaScript`, async () => {
    const where = stage === "in_progress" ? banner : stage === "scheduled" ? upcoming : page.locator("#recent");
    const local = await where.locator(".local").allInnerTexts();
    if (javaScriptEnabled && stage !== "completed") {
      assert.ok(local.some((t) => /(^|\D)0?[35]:00/.test(t)), `Berlin's time shown: ${local}`);
    } else if (!javaScriptEnabled) {
      assert.deepEqual(local, []);
    }
  });

  await check(`${mode}: the maintenance's page`, async () => {
    const detail = await context.newPage();
    assert.equal((await detail.goto(base + "/incidents/9.html")).status(), 200);
    const text = await detail.locator("main").innerText();
    assert.match(text, new RegExp(TITLE));
    assert.match(text, /Planned from 1 Dec 2026, 02:00 UTC( \([^)]*your time\))? to 1 Dec 2026, 04:00 UTC/);
    const words = { scheduled: "Scheduled", in_progress: "In progress", completed: "Completed" }[stage];
    assert.match(text, new RegExp(words));
  });
  await context.close();
}
await finish(browser, `maintenance, ${stage}`);
