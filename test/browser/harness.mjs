// What the browser tests share: the service as `npm start` runs it (on fresh local state, in a
// process group of its own), Debian's Chromium driven by playwright-core, and an admin client.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before } from "node:test";
import { chromium } from "playwright-core";

export const PORT = Number(process.env.BROWSER_TEST_PORT ?? 8791);
export const BASE = `http://localhost:${PORT}`;
export const ADMIN = "dev-admin-token";
const SHOTS = "test/screenshots";
mkdirSync(SHOTS, { recursive: true });

let browser;
/** The pages the running test opened, each with the Content-Security-Policy violations it reported. */
let opened = [];

export async function startService(port = PORT, vars = "") {
  const child = spawn(process.execPath, ["scripts/start.mjs"], {
    env: {
      ...process.env,
      PORT: String(port),
      PERSIST_TO: mkdtempSync(join(tmpdir(), "stampede-browser-")),
      STAMPEDE_VARS: vars,
    },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`npm start did not come up:\n${output.slice(-3000)}`)),
      120_000,
    );
    const watch = (chunk) => {
      output += chunk;
      if (output.includes("Admin token")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", watch);
    child.stderr.on("data", watch);
    child.on("exit", (code) => reject(new Error(`npm start exited with ${code}:\n${output.slice(-3000)}`)));
  });
  return child;
}

export async function adminCall(method, path, body, base = BASE) {
  const response = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${ADMIN}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(response.ok, `${method} ${path} answered ${response.status}`);
  return response.json();
}

/**
 * A product of one size that does not ship, sold by a draw open for the next hour: `units` of
 * `onHand` held for it. Answers the product and its SKU.
 */
export async function drawProduct(
  { slug, title, price, onHand, units = 1, category = "drops" },
  base = BASE,
) {
  const sku = `${slug.toUpperCase()}-1`;
  const product = await adminCall(
    "POST",
    "/v1/admin/products",
    {
      slug,
      title,
      category,
      requiresShipping: false,
      variants: [{ sku, title: "One size", price: { amount: price, currency: "USD" } }],
    },
    base,
  );
  await adminCall("PUT", `/v1/admin/inventory/${sku}`, { onHand }, base);
  await adminCall(
    "POST",
    `/v1/admin/products/${product.id}/draw`,
    {
      opensAt: new Date(Date.now() - 1000).toISOString(),
      closesAt: new Date(Date.now() + 3600_000).toISOString(),
      units: { [sku]: units },
    },
    base,
  );
  return { product, sku };
}

/**
 * `viewport` and `mobile` (a phone's: touch, its viewport meta honoured) size the page;
 * `refused`: violations this page is expected to report, each a pattern (a library's feature test
 * that the policy turns down and that falls back by design); every other one still fails the test.
 */
export async function newPage(
  name,
  { refused = [], viewport = { width: 1100, height: 900 }, mobile = false } = {},
) {
  const context = await browser.newContext({ viewport, isMobile: mobile, hasTouch: mobile });
  const page = await context.newPage();
  page.shot = () => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  // Every page of every test runs under the shop's CSP; anything it refuses fails the test.
  page.violations = [];
  await page.exposeFunction("reportCspViolation", (violation) => {
    if (!refused.some((pattern) => pattern.test(violation))) page.violations.push(violation);
  });
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (event) =>
      window.reportCspViolation(
        `${event.effectiveDirective} refused ${event.blockedURI || "inline"} on ${event.documentURI}`,
      ),
    );
  });
  page.on("console", (message) => {
    const text = message.text();
    if (text.includes("Content Security Policy") && !refused.some((pattern) => pattern.test(text)))
      page.violations.push(text);
  });
  opened.push(page);
  return page;
}

/** Chromium for the tests of this file: launched before them, closed after. */
export function useBrowser() {
  before(async () => {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });
  afterEach(() => {
    const violations = opened.flatMap((page) => page.violations);
    opened = [];
    assert.deepEqual(violations, [], "no Content-Security-Policy violation on any page");
  });
  after(async () => {
    await browser?.close();
  });
}

/** Stops a service startService began (its whole process group). */
export function stopService(service) {
  if (service) process.kill(-service.pid, "SIGTERM");
}

/** Fills the checkout's name and shipping address (required when the cart holds what ships). */
export async function fillBuyer(
  page,
  {
    name = "Ada Shopper",
    line1 = "1 Market Street",
    city = "Springfield",
    postalCode = "12345",
    country = "US",
  } = {},
) {
  await page.getByTestId("checkout-name").fill(name);
  await page.getByTestId("checkout-line1").fill(line1);
  await page.getByTestId("checkout-city").fill(city);
  await page.getByTestId("checkout-postalCode").fill(postalCode);
  await page.getByTestId("checkout-country").fill(country);
}
