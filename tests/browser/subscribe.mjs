// Subscribing as a reader does it, in Debian's chromium (headless) with JavaScript
// off. One step per run, the test reading the outbox in between:
//   node subscribe.mjs form <status page URL> <address> <screenshot dir>
//     the form on the page, filled and sent: "Check your mail"
//   node subscribe.mjs confirm <link from the mail> <screenshot dir>
//     the link shows a button and changes nothing; the button confirms
//   node subscribe.mjs unsubscribed <link from the mail> <screenshot dir>
//     after a one-click unsubscribe, the mail's link says so
// Exits non-zero, naming the check, if a page lacks what it must show.
import { check, finish, launch } from "./harness.mjs";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";

const [step, url, ...rest] = process.argv.slice(2);
const shots = rest[rest.length - 1];
if (!step || !url || !shots) {
  console.error("usage: node subscribe.mjs form|confirm|unsubscribed <URL> [address] <screenshot dir>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const browser = await launch();
const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1000, height: 900 } });
const page = await context.newPage();

if (step === "form") {
  const address = rest[0];
  await page.goto(url);
  await check("the status page offers the subscribe form", async () => {
    const form = page.locator("section.follow form[method=post]");
    assert.equal(await form.count(), 1);
    assert.ok((await form.getAttribute("action")).endsWith("/subscribe"));
    const right = await page.locator("input[name=website]").evaluate((e) => e.getBoundingClientRect().right);
    assert.ok(right <= 0, `the honeypot is out of sight (right edge at ${right})`);
  });
  await page.screenshot({ path: `${shots}/subscribe-form.png`, fullPage: true });
  await page.fill("#subscribe-email", address);
  await Promise.all([page.waitForNavigation(), page.click("section.follow button[type=submit]")]);
  await check("sending the form asks to check the mail", async () => {
    assert.equal(await page.locator("h1").innerText(), "Check your mail");
    assert.ok(!(await page.locator("body").innerText()).includes(address), "the page does not echo the address");
  });
} else if (step === "confirm") {
  const response = await page.goto(url);
  await check("the confirmation link shows what it will do, with a button", async () => {
    assert.equal(response.status(), 200);
    assert.equal(await page.locator("h1").innerText(), "Confirm your subscription");
    assert.match(await page.locator("main").innerText(), /r…@example\.com will get Service status updates/);
  });
  await page.screenshot({ path: `${shots}/subscribe-confirm.png`, fullPage: true });
  await Promise.all([page.waitForNavigation(), page.click("main button[type=submit]")]);
  await check("the button confirms", async () => {
    assert.equal(await page.locator("h1").innerText(), "You are subscribed");
    assert.equal(await page.locator("a", { hasText: "Choose what you get" }).count(), 1);
  });
} else if (step === "unsubscribed") {
  const response = await page.goto(url);
  await check("after one click, the mail's unsubscribe link says there is nothing to do", async () => {
    assert.equal(response.status(), 200);
    assert.equal(await page.locator("h1").innerText(), "Not subscribed");
    assert.equal(await page.locator("form").count(), 0);
  });
} else {
  console.error(`unknown step ${step}`);
  process.exit(2);
}
await finish(browser, "browser");
