// What every browser script shares: Debian's chromium, headless, and named checks that
// print TAP-like lines ("ok - name", "not ok - name") and decide the exit status.
import { chromium } from "playwright-core";

/** Debian's chromium (or $CHROMIUM), headless, with no traffic of its own. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

const failures = [];

/** Runs one named check; a failure is printed and remembered, the run goes on. */
export async function check(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failures.push(name);
    console.log(`not ok - ${name}\n  ${String(e.message).split("\n").join("\n  ")}`);
  }
}

/** Closes the browser, says what failed, and exits 1 if anything did. */
export async function finish(browser, what) {
  await browser.close();
  console.log(`\n${what}: ${failures.length ? "FAILED " + failures.join("; ") : "all checks passed"}`);
  process.exit(failures.length ? 1 : 0);
}
