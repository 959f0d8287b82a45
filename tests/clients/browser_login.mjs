// Headless Chromium (Debian's, driven by playwright-core) walks the built-in authorization
// server's login and consent pages like a person: types the username and password, clicks
// "Sign in", then "Approve". Screenshots of both pages go to SCREENSHOT_DIR.
//
//   node browser_login.mjs AUTHORIZE_URL REDIRECT_URI USERNAME PASSWORD SCREENSHOT_DIR
//
// Prints one JSON line with the authorization response's query parameters.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.PORTCULLIS_TEST_NODE_MODULES, "noop.js"));
const { chromium } = require("playwright-core");

const [authorizeUrl, redirectUri, username, password, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 800, height: 700 }, javaScriptEnabled: false });
  // Nothing listens on the client's loopback redirect URI: answer it here and keep its URL.
  let redirected = null;
  await page.route((url) => url.href.startsWith(redirectUri), (route) => {
    redirected = route.request().url();
    return route.fulfill({ status: 200, contentType: "text/plain", body: "done" });
  });
  await page.goto(authorizeUrl);
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", password);
  await page.screenshot({ path: path.join(shots, "login.png") });
  await page.click("button[type=submit]");
  await page.waitForSelector("button[name=approve]");
  await page.screenshot({ path: path.join(shots, "consent.png") });
  await page.click("button[name=approve]");
  for (let i = 0; i < 100 && !redirected; i++) await page.waitForTimeout(50);
  if (!redirected) throw new Error(`no redirect to the client; page is now ${page.url()}`);
  console.log(JSON.stringify(Object.fromEntries(new URL(redirected).searchParams)));
} finally {
  await browser.close();
}
