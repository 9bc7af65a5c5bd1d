// Audience pages behind GitLab sign-in, as a reader sees them in Debian's chromium
// (headless, JavaScript off), against the OpenID provider stand-in:
// node audiences.mjs <site URL> <provider URL>
// Exits non-zero, naming the check, if a reader sees what they must not, or lacks
// what they must.
import { check, finish, launch } from "./harness.mjs";
import assert from "node:assert/strict";

const [base, provider] = process.argv.slice(2);
if (!base || !provider) {
  console.error("usage: node audiences.mjs <site URL> <provider URL>");
  process.exit(2);
}

const STAFF = "Internal database failover";
const ACME = "Acme tenant exports delayed";
const PLAIN = "Checkout latency for everyone";

const browser = await launch();

/** Who the provider signs in next. */
async function signInAs(user) {
  const r = await fetch(`${provider}/__as/${user}`);
  assert.equal(r.status, 200);
}

/** A reader's browser, and every page it navigated to. */
async function reader() {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const visited = [];
  page.on("request", (r) => { if (r.isNavigationRequest()) visited.push(r.url()); });
  return { context, page, visited };
}

await signInAs("ops-member");
const ops = await reader();
const first = await ops.page.goto(base + "/staff/");
await check("an anonymous reader of /staff/ is sent to sign in with GitLab", async () => {
  const chain = ops.visited.join("\n");
  assert.ok(ops.visited.some((u) => u === base + "/login?to=%2Fstaff%2F"), chain);
  assert.ok(ops.visited.some((u) => u.startsWith(provider + "/oauth/authorize?")), chain);
  const authorize = new URL(ops.visited.find((u) => u.startsWith(provider + "/oauth/authorize?")));
  assert.equal(authorize.searchParams.get("code_challenge_method"), "S256");
  assert.ok(authorize.searchParams.get("state") && authorize.searchParams.get("nonce"));
  assert.ok(ops.visited.some((u) => u.startsWith(base + "/callback?")), chain);
});
await check("a member of ops sees the staff page with its internal incident", async () => {
  assert.equal(first.status(), 200);
  assert.equal(ops.page.url(), base + "/staff/");
  const text = await ops.page.locator("body").innerText();
  assert.ok(text.includes(STAFF), text);
  assert.ok(text.includes(PLAIN), text);
  assert.ok(!text.includes(ACME), text);
  const session = (await ops.context.cookies(base)).find((c) => c.name === "openmic_session");
  assert.ok(session, "a session cookie");
  assert.ok(session.httpOnly, "HttpOnly");
  assert.equal(session.sameSite, "Lax");
  const hours = (session.expires - Date.now() / 1000) / 3600;
  assert.ok(hours > 11.9 && hours <= 12, `${hours} hours`);
});
await check("the staff page's links stay on the staff page", async () => {
  const href = await ops.page.locator('a[href$="incidents/202.html"]').first().getAttribute("href");
  const r = await ops.page.goto(new URL(href, base + "/staff/").href);
  assert.equal(r.status(), 200);
  assert.equal(ops.page.url(), base + "/staff/incidents/202.html");
  assert.ok((await ops.page.locator("body").innerText()).includes(STAFF));
  const css = await ops.page.locator("link[rel=stylesheet]").first().getAttribute("href");
  const sheet = await ops.page.request.get(new URL(css, ops.page.url()).href);
  assert.equal(sheet.status(), 200);
});
await check("a member of ops is refused acme's page, with why", async () => {
  const r = await ops.page.goto(base + "/acme/");
  assert.equal(r.status(), 403);
  assert.match(await ops.page.locator("#why").innerText(), /grants staff, not acme/);
  assert.ok(!(await ops.page.locator("body").innerText()).includes(ACME));
});
await check("a forged session cookie is refused with a page saying why", async () => {
  const session = (await ops.context.cookies(base)).find((c) => c.name === "openmic_session");
  const [payload, tag] = session.value.split(".");
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
  claims.audiences = ["staff", "acme"];
  const forged = Buffer.from(JSON.stringify(claims)).toString("base64url") + "." + tag;
  await ops.context.addCookies([{ ...session, value: forged }]);
  const r = await ops.page.goto(base + "/acme/");
  assert.equal(r.status(), 403);
  assert.match(await ops.page.locator("#why").innerText(), /not one this page signed/);
  assert.ok(!(await ops.page.locator("body").innerText()).includes(ACME));
});
await ops.context.close();

await signInAs("acme-member");
const acme = await reader();
await check("a member of customers/acme gets acme and not staff", async () => {
  const r = await acme.page.goto(base + "/acme/");
  assert.equal(r.status(), 200);
  const text = await acme.page.locator("body").innerText();
  assert.ok(text.includes(ACME), text);
  assert.ok(!text.includes(STAFF), text);
  const refused = await acme.page.goto(base + "/staff/");
  assert.equal(refused.status(), 403);
  assert.match(await acme.page.locator("#why").innerText(), /grants acme, not staff/);
  assert.ok(!(await acme.page.locator("body").innerText()).includes(STAFF));
});
await acme.context.close();

await finish(browser, "audience pages");
