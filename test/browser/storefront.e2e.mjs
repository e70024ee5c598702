// Browser tests of the storefront and the ops page: headless Chromium (Debian's, driven by
// playwright-core) against the service as `npm start` runs it, on fresh local state.
// Run with `npm run test:browser`; screenshots land in test/screenshots/.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium } from "playwright-core";

const PORT = Number(process.env.BROWSER_TEST_PORT ?? 8791);
const BASE = `http://localhost:${PORT}`;
const ADMIN = "dev-admin-token";
const SHOTS = "test/screenshots";
mkdirSync(SHOTS, { recursive: true });

let server;
let browser;

async function startService() {
  const child = spawn(process.execPath, ["scripts/start.mjs"], {
    env: { ...process.env, PORT: String(PORT), PERSIST_TO: mkdtempSync(join(tmpdir(), "stampede-browser-")) },
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

async function adminCall(method, path, body) {
  const response = await fetch(BASE + path, {
    method,
    headers: { Authorization: `Bearer ${ADMIN}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(response.ok, `${method} ${path} answered ${response.status}`);
  return response.json();
}

async function newPage(name) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.shot = () => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  return page;
}

before(async () => {
  server = await startService();
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

after(async () => {
  await browser?.close();
  if (server) process.kill(-server.pid, "SIGTERM");
});

describe("storefront", () => {
  it("browses, opens a product, adds it to the cart, checks out and sees the order paid", async () => {
    const page = await newPage("buy-and-pay");
    await page.goto(`${BASE}/`);
    const cards = page.getByTestId("product-card");
    await cards.first().waitFor();
    assert.ok((await cards.count()) >= 6);
    await cards.first().getByRole("link").click();
    await page
      .getByTestId("availability")
      .filter({ hasText: /In stock|Low stock/ })
      .waitFor();
    await page.getByTestId("add-to-cart").click();
    await page.getByTestId("cart-link").filter({ hasText: "(1)" }).waitFor();
    await page.getByTestId("cart-link").click();
    await page.getByTestId("checkout-email").fill("shopper@example.com");
    await page.getByLabel("Payment (test card)").selectOption("tok_ok");
    await page.getByTestId("place-order").click();
    await page.waitForURL(/\/orders\//);
    await page.getByTestId("order-status").filter({ hasText: "Paid" }).waitFor({ timeout: 20_000 });
    assert.match(await page.getByTestId("order-status").textContent(), /Paid/);
    await page.shot();
  });

  it("places one order, not two, when place order is clicked twice", async () => {
    const before = (await adminCall("GET", "/v1/admin/orders/summary")).byStatus;
    const page = await newPage("double-click");
    await page.goto(`${BASE}/products/classic-tee`);
    await page.getByTestId("add-to-cart").click();
    await page.goto(`${BASE}/cart`);
    await page.getByTestId("checkout-email").fill("double@example.com");
    await page.getByTestId("place-order").dblclick();
    await page.waitForURL(/\/orders\//);
    await page.getByTestId("order-status").filter({ hasText: "Paid" }).waitFor({ timeout: 20_000 });
    const now = (await adminCall("GET", "/v1/admin/orders/summary")).byStatus;
    const total = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);
    assert.equal(total(now) - total(before), 1);
    await page.shot();
  });

  it("shows a sold-out product as sold out and does not let it be bought", async () => {
    await adminCall("PUT", "/v1/admin/inventory/FLASH-SNEAKER", { onHand: 0 });
    const page = await newPage("sold-out");
    await page.goto(`${BASE}/products/flash-sale-sneaker`);
    await page.getByTestId("availability").filter({ hasText: "Sold out" }).waitFor();
    assert.equal(await page.getByTestId("add-to-cart").isDisabled(), true);
    assert.equal(await page.getByTestId("add-to-cart").textContent(), "Sold out");
    await page.shot();
  });

  it("says clearly that an item sold out between the cart and the order", async () => {
    await adminCall("PUT", "/v1/admin/inventory/FLASH-SNEAKER", { onHand: 1 });
    const page = await newPage("sold-out-at-checkout");
    await page.goto(`${BASE}/products/flash-sale-sneaker`);
    await page.getByTestId("add-to-cart").click();
    await adminCall("PUT", "/v1/admin/inventory/FLASH-SNEAKER", { onHand: 0 });
    await page.goto(`${BASE}/cart`);
    await page.getByTestId("checkout-email").fill("late@example.com");
    await page.getByTestId("place-order").click();
    await page.getByRole("status").filter({ hasText: "Sold out" }).waitFor();
    await page.shot();
  });
});

describe("ops page", () => {
  it("shows the sale: payments by status and stock per SKU", async () => {
    const page = await newPage("ops");
    await page.goto(`${BASE}/admin`);
    await page.getByTestId("admin-token").fill(ADMIN);
    await page.getByTestId("admin-sign-in").click();
    const payments = page.getByTestId("ops-payments");
    await payments.waitFor();
    const paid = Number(await payments.locator("tbody td").nth(1).textContent());
    assert.ok(paid >= 2, `paid orders shown: ${paid}`);
    const intake = page.getByTestId("ops-intake");
    assert.equal(await intake.locator("tbody td").count(), 4);
    const stock = page.getByTestId("ops-stock");
    assert.ok((await stock.locator("tbody tr").count()) >= 50);
    await page.getByTestId("ops-orders").locator("tbody tr").first().waitFor();
    await page.shot();
  });
});
