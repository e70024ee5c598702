// The drop queue and a draw's entry behind Turnstile: an instance with a Turnstile secret checked
// against the local siteverify fake, and a stand-in for Cloudflare's widget script.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { startFakeTurnstile, TURNSTILE_TEST_SECRET } from "../fakes/turnstile.mjs";
import { adminCall, drawProduct, fillBuyer, newPage, PORT, startService, useBrowser } from "./harness.mjs";

useBrowser();

describe("storefront with Turnstile", () => {
  const port = PORT + 2;
  const base = `http://localhost:${port}`;
  // Cloudflare's test site key; the widget here is the stand-in, and siteverify the local fake.
  const SITE_KEY = "1x00000000000000000000AA";
  let siteverify;
  let service;
  before(async () => {
    siteverify = await startFakeTurnstile({ hostname: "localhost" });
    service = await startService(
      port,
      [
        `TURNSTILE_SECRET=${TURNSTILE_TEST_SECRET}`,
        `TURNSTILE_SITE_KEY=${SITE_KEY}`,
        `TURNSTILE_VERIFY_URL=${siteverify.url}`,
      ].join(","),
    );
  });
  after(async () => {
    if (service) process.kill(-service.pid, "SIGTERM");
    await siteverify?.close();
  });

  /** A drop with a waiting room on this shop, starting in `startsIn` ms. */
  async function queuedDrop(startsIn) {
    const slug = `guarded-${Date.now()}`;
    const sku = `${slug.toUpperCase()}-1`;
    const product = await adminCall(
      "POST",
      "/v1/admin/products",
      {
        slug,
        title: "Guarded Drop",
        category: "drops",
        saleStartsAt: new Date(Date.now() + startsIn).toISOString(),
        waitingRoom: { admitPerMinute: 600 },
        variants: [{ sku, title: "One size", price: { amount: 9900, currency: "USD" } }],
      },
      base,
    );
    await adminCall("PUT", `/v1/admin/inventory/${sku}`, { onHand: 20 }, base);
    return product;
  }

  /** A page whose Turnstile script is the stand-in, recording what it was asked for and what joined. */
  async function guardedPage(name) {
    const page = await newPage(name);
    page.scripts = [];
    page.joins = [];
    await page.route(/challenges\.cloudflare\.com/, (route) => {
      const url = new URL(route.request().url());
      page.scripts.push(url);
      if (url.pathname !== "/turnstile/v0/api.js") return route.abort();
      return route.fulfill({
        contentType: "text/javascript",
        path: fileURLToPath(new URL("../fakes/turnstile-api.js", import.meta.url)),
      });
    });
    page.on("request", (request) => {
      if (request.method() === "POST" && request.url().endsWith("/tickets")) {
        page.joins.push(request.postDataJSON());
      }
    });
    page.solve = (token) => page.evaluate((value) => window.fakeTurnstile.solve(value), token);
    page.resets = () => page.evaluate(() => window.fakeTurnstile.resets);
    return page;
  }

  it("waits for the widget's token, joins with it, is let in at the start and pays", async () => {
    const product = await queuedDrop(8000);
    const page = await guardedPage("drop-queue-turnstile");
    await page.goto(`${base}/products/${product.slug}`);
    await page.getByTestId("queue-email").fill("guarded@example.com");
    await page.getByTestId("turnstile-fake").waitFor();
    const join = page.getByTestId("queue-join");
    assert.equal(await join.isDisabled(), true, "no token yet");
    assert.equal(page.scripts.length, 1);
    assert.equal(page.scripts[0].searchParams.get("render"), "explicit");
    assert.deepEqual(await page.evaluate(() => window.fakeTurnstile.sitekeys), [SITE_KEY]);
    await page.shot();

    const token = `pass-${Date.now()}`;
    await page.solve(token);
    await join.click();
    await page.getByTestId("queue-status").filter({ hasText: "You are in the line" }).waitFor();
    assert.deepEqual(page.joins, [{ email: "guarded@example.com", turnstileToken: token }]);
    assert.equal(await page.getByTestId("turnstile-fake").count(), 0, "the widget goes once joined");

    await page.waitForURL(/\/cart$/, { timeout: 30_000 });
    assert.equal(await page.getByTestId("checkout-email").inputValue(), "guarded@example.com");
    await page.getByLabel("Payment (test card)").selectOption("tok_ok");
    await fillBuyer(page);
    await page.getByTestId("place-order").click();
    await page.waitForURL(/\/orders\//);
    await page.getByTestId("order-status").filter({ hasText: "Paid" }).waitFor({ timeout: 20_000 });
  });

  it("says plainly when the token is refused or the shop is busy, and checks again before each retry", async () => {
    const product = await queuedDrop(3600_000);
    const page = await guardedPage("drop-queue-turnstile-refused");
    await page.goto(`${base}/products/${product.slug}`);
    await page.getByTestId("queue-email").fill("refused@example.com");
    await page.getByTestId("turnstile-fake").waitFor();
    const join = page.getByTestId("queue-join");
    const notice = page.getByRole("status");

    // A token siteverify refuses: a plain message, and the widget starts over (the token is spent).
    await page.solve("bot-token");
    await join.click();
    await notice.filter({ hasText: "The security check was not accepted" }).waitFor();
    assert.equal(await page.resets(), 1);
    assert.equal(await join.isDisabled(), true, "no token until the widget checks again");
    assert.match(await page.getByTestId("turnstile-fake").textContent(), /Verifying/);
    await page.shot();

    // The shop cannot check right now (siteverify unreachable): the buyer is told when to retry.
    let busy = true;
    await page.route(/\/tickets$/, (route) => {
      if (!busy) return route.fallback();
      busy = false;
      return route.fulfill({
        status: 503,
        headers: { "Retry-After": "2" },
        contentType: "application/problem+json",
        body: JSON.stringify({ code: "service_unavailable", status: 503 }),
      });
    });
    const busyToken = `pass-busy-${Date.now()}`;
    await page.solve(busyToken);
    await join.click();
    await notice.filter({ hasText: "cannot be joined right now. Try again in 2 s" }).waitFor();
    assert.equal(await page.resets(), 2);
    assert.equal(await join.isDisabled(), true);

    const token = `pass-${Date.now()}`;
    await page.solve(token);
    await join.click();
    await page.getByTestId("queue-status").filter({ hasText: "You are in the line" }).waitFor();
    assert.equal(await notice.isHidden(), true, "the refusals' message is gone once joined");
    // Each attempt sent the token the widget had just given, never one twice.
    assert.deepEqual(
      page.joins.map((body) => body.turnstileToken),
      ["bot-token", busyToken, token],
    );
  });

  it("enters a draw with the widget's token; a refused token is said beside the form and the retry keeps its key", async () => {
    const slug = `guarded-draw-${Date.now()}`;
    await drawProduct({ slug, title: "Guarded Draw", price: 9900, onHand: 3 }, base);
    const page = await guardedPage("draw-turnstile");
    const sent = [];
    page.on("request", (request) => {
      if (request.method() === "POST" && request.url().endsWith("/draw/entries")) {
        sent.push({ key: request.headers()["idempotency-key"], body: request.postDataJSON() });
      }
    });
    await page.goto(`${base}/products/${slug}`);
    await page.getByTestId("draw-email").fill("guarded-draw@example.com");
    await page.getByTestId("turnstile-fake").waitFor();
    const enter = page.getByTestId("draw-enter");
    assert.equal(await enter.isDisabled(), true, "no token yet");

    await page.solve("bot-token");
    await enter.click();
    await page.getByTestId("draw-refusal").filter({ hasText: "security check was not accepted" }).waitFor();
    assert.equal(await enter.isDisabled(), true, "no token until the widget checks again");

    const token = `pass-${Date.now()}`;
    await page.solve(token);
    await enter.click();
    await page
      .getByTestId("draw-entry")
      .and(page.locator("[data-state=entered]"))
      .waitFor({ timeout: 20_000 });
    assert.deepEqual(
      sent.map((request) => request.body.turnstileToken),
      ["bot-token", token],
    );
    assert.equal(sent[1].key, sent[0].key, "the same attempt, sent again, under the same key");
  });
});
