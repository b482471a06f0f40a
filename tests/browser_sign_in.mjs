// Drives a browser sign-in for the tests: Debian's Chromium under playwright-core (no browser
// download), headless. From URL it signs LOGIN in at the test IdP's form (tests/idp.mjs) and
// allows Giru's consent page, until the browser reaches a URL starting with STOP; prints that URL.
//
//   node tests/browser_sign_in.mjs URL LOGIN PASSWORD STOP [SCREENSHOT_DIR]
//
// Exit 0 with the final URL on stdout, or 1 with what the browser showed instead.
import { createRequire } from "node:module";

const require = createRequire(process.env.BROWSER_NODE_MODULES + "/");
const { chromium } = require("playwright-core");

const [url, login, password, stop, screenshots] = process.argv.slice(2);
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const STEPS = 10;
const TIMEOUT_MS = 15_000;

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ARGS });
let landed = null;
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  await page.goto(url);
  for (let step = 0; step < STEPS; step++) {
    await page.waitForLoadState("load");
    if (page.url().startsWith(stop)) {
      landed = page.url();
      break;
    }
    if (screenshots) await page.screenshot({ path: `${screenshots}/step-${step}.png`, fullPage: true });
    const allow = page.getByRole("button", { name: "Allow" });
    if (await page.locator('input[name="login"]').count()) {
      await page.getByLabel("Login").fill(login);
      await page.getByLabel("Password").fill(password);
      await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Sign in" }).click()]);
    } else if (await allow.count()) {
      await Promise.all([page.waitForURL((u) => u.href.startsWith(stop)), allow.click()]);
    } else {
      throw new Error(`unexpected page at ${page.url()}: ${(await page.content()).slice(0, 800)}`);
    }
  }
  if (landed === null) throw new Error(`no ${stop} after ${STEPS} steps (at ${page.url()})`);
} catch (error) {
  process.stderr.write(`${error.stack ?? error}\n`);
} finally {
  await browser.close();
}
if (landed === null) process.exit(1);
process.stdout.write(landed + "\n");
