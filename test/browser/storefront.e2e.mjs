// Browser tests of the storefront and the ops page: headless Chromium (Debian's, driven by
// playwright-core) against the service as `npm start` runs it, on fresh local state.
// Run with `npm run test:browser` (every file in test/browser); screenshots land in test/screenshots/.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  ADMIN,
  adminCall,
  BASE,
  fillBuyer,
  newPage,
  startService,
  stopService,
  useBrowser,
} from "./harness.mjs";

let server;
before(async () => {
  server = await startService();
});
after(() => stopService(server));
useBrowser();

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
    await fillBuyer(page);
    await page.getByTestId("place-order").click();
    await page.waitForURL(/\/orders\//);
    await page.getByTestId("order-status").filter({ hasText: "Paid" }).waitFor({ timeout: 20_000 });
    assert.match(await page.getByTestId("order-status").textContent(), /Paid/);
    await page.shot();
  });

  it("passes a simulated 3-D Secure challenge, and sees a failed one fail the order", async () => {
    for (const [card, answer, outcome] of [
      ["tok_3ds", "challenge-pass", /Paid/],
      ["tok_3ds_fail", "challenge-pass", /Payment failed/],
    ]) {
      const page = await newPage(`challenge-${card}`);
      await page.goto(`${BASE}/products/classic-tee`);
      await page.getByTestId("add-to-cart").click();
      await page.goto(`${BASE}/cart`);
      await page.getByTestId("checkout-email").fill("secure@example.com");
      await page.getByLabel("Payment (test card)").selectOption(card);
      await fillBuyer(page);
      await page.getByTestId("place-order").click();
      await page.waitForURL(/\/orders\//);
      await page
        .getByTestId("order-status")
        .filter({ hasText: "confirm this payment" })
        .waitFor({ timeout: 20_000 });
      await page.getByTestId("confirm-payment").click();
      await page.waitForURL(/\/pay\/challenge\//);
      await page.getByText("Simulated 3-D Secure").waitFor();
      await page.shot();
      await page.getByTestId(answer).click();
      await page.waitForURL(/\/orders\//);
      await page.getByTestId("order-status").filter({ hasText: outcome }).waitFor({ timeout: 20_000 });
    }
  });

  it("counts down to a drop's start and does not sell before it", async () => {
    const slug = `drop-${Date.now()}`;
    const startsAt = new Date(Date.now() + 2 * 3600_000).toISOString();
    await adminCall("POST", "/v1/admin/products", {
      slug,
      title: "Limited Drop",
      category: "drops",
      saleStartsAt: startsAt,
      maxPerOrder: 1,
      variants: [
        { sku: `${slug.toUpperCase()}-1`, title: "One size", price: { amount: 19900, currency: "USD" } },
      ],
    });
    await adminCall("PUT", `/v1/admin/inventory/${slug.toUpperCase()}-1`, { onHand: 50 });
    const page = await newPage("drop-countdown");
    await page.goto(`${BASE}/products/${slug}`);
    await page
      .getByTestId("countdown")
      .filter({ hasText: /Sale starts in (1|2) h/ })
      .waitFor();
    await page.getByTestId("purchase-limit").filter({ hasText: "Limit: 1 per order" }).waitFor();
    const add = page.getByTestId("add-to-cart");
    assert.equal(await add.textContent(), "Not on sale yet");
    assert.equal(await add.isDisabled(), true);
    await page.shot();
  });

  it("shows a zero-decimal currency's amount as whole units (JPY 1500 is ¥1,500, not ¥15.00)", async () => {
    const slug = `yen-${Date.now()}`;
    await adminCall("POST", "/v1/admin/products", {
      slug,
      title: "Yen Tee",
      category: "tees",
      variants: [
        { sku: `${slug.toUpperCase()}-1`, title: "One size", price: { amount: 1500, currency: "JPY" } },
      ],
    });
    const page = await newPage("zero-decimal-price");
    await page.goto(`${BASE}/products/${slug}`);
    const price = page.locator("p.price");
    await price.waitFor();
    const shown = await price.textContent();
    const expected = new Intl.NumberFormat(await page.evaluate(() => navigator.language), {
      style: "currency",
      currency: "JPY",
    }).format(1500);
    assert.equal(shown, expected);
    assert.doesNotMatch(shown, /15\.00|\b15\b/);
    await page.shot();
  });

  it("queues for a drop with a waiting room, polls as the room asks, is let in at the start, and buys with the pass", async () => {
    const slug = `room-${Date.now()}`;
    const sku = `${slug.toUpperCase()}-1`;
    const product = await adminCall("POST", "/v1/admin/products", {
      slug,
      title: "Queued Drop",
      category: "drops",
      saleStartsAt: new Date(Date.now() + 6000).toISOString(),
      waitingRoom: { admitPerMinute: 600 },
      variants: [{ sku, title: "One size", price: { amount: 9900, currency: "USD" } }],
    });
    await adminCall("PUT", `/v1/admin/inventory/${sku}`, { onHand: 20 });
    const page = await newPage("drop-queue");
    const turnstile = [];
    await page.route(/challenges\.cloudflare\.com/, (route) => {
      turnstile.push(route.request().url());
      return route.abort();
    });
    // The room asks for a poll every 3 s (the status's pollAfterSeconds): the page follows.
    const polls = [];
    await page.route(/\/v1\/drops\/[^/]+\/status$/, async (route) => {
      polls.push(Date.now());
      const response = await route.fetch();
      return route.fulfill({ response, json: { ...(await response.json()), pollAfterSeconds: 3 } });
    });
    await page.goto(`${BASE}/products/${slug}`);
    assert.equal(await page.getByTestId("add-to-cart").count(), 0, "a drop sells through its queue");
    await page.getByTestId("queue-email").fill("queued@example.com");
    // Without a Turnstile site key, no widget and no script from Cloudflare.
    assert.equal(await page.getByTestId("turnstile").count(), 0);
    assert.deepEqual(turnstile, []);
    await page.getByTestId("queue-join").click();
    await page.getByTestId("queue-status").filter({ hasText: "You are in the line" }).waitFor();
    await page.shot();
    // At the start the room lets the line in; the page goes straight to checkout with the pass.
    await page.waitForURL(/\/cart$/, { timeout: 30_000 });
    assert.ok(polls.length >= 2, `status polls: ${polls.length}`);
    for (let i = 1; i < polls.length; i++) {
      assert.ok(
        polls[i] - polls[i - 1] >= 2900,
        `poll ${i} came ${polls[i] - polls[i - 1]} ms after the last`,
      );
    }
    assert.equal(await page.getByTestId("checkout-email").inputValue(), "queued@example.com");
    await page.getByLabel("Payment (test card)").selectOption("tok_ok");
    await fillBuyer(page);
    await page.getByTestId("place-order").click();
    await page.waitForURL(/\/orders\//);
    await page.getByTestId("order-status").filter({ hasText: "Paid" }).waitFor({ timeout: 20_000 });
    assert.ok(product.id);
  });

  it("features the flash sale with live stock, shows its own pictures offline, and shows a price once", async () => {
    const page = await newPage("home");
    await page.goto(`${BASE}/`);
    const featured = page.getByTestId("featured");
    await featured.waitFor();
    assert.match(await featured.textContent(), /Flash sale.*Flash Sale Sneaker/);
    await page
      .getByTestId("featured-available")
      .filter({ hasText: /\d+ left|Sold out/ })
      .waitFor();
    // Every picture on the page is the shop's own and loads without the internet.
    await page.waitForLoadState("networkidle");
    const pictures = await page
      .locator("img")
      .evaluateAll((imgs) =>
        imgs.map((img) => ({ src: img.getAttribute("src"), loaded: img.complete && img.naturalWidth > 0 })),
      );
    assert.ok(pictures.length >= 6);
    for (const picture of pictures) {
      assert.match(picture.src, new RegExp(`^${BASE}/images/(products|demo)/`), picture.src);
      assert.ok(picture.loaded, `${picture.src} did not load`);
    }
    // Each product its own picture, not one per category.
    const cards = await page
      .getByTestId("product-card")
      .locator("img")
      .evaluateAll((imgs) => imgs.map((img) => img.src));
    assert.equal(new Set(cards).size, cards.length, "no two cards share a picture");
    await page.shot();
    // The whole card opens its product (a click on its picture, not only on its title).
    await page.getByTestId("product-card").first().locator("img").click();
    await page.waitForURL(/\/products\//);
    await featured.waitFor({ state: "detached" });
    await page.goto(`${BASE}/products/flash-sale-sneaker`);
    await page.getByTestId("availability").waitFor();
    const text = await page.locator("main").textContent();
    assert.equal(text.match(/\$49\.99/g)?.length, 1, "the price shows once");
  });

  it("places one order, not two, when place order is clicked twice", async () => {
    const before = (await adminCall("GET", "/v1/admin/orders/summary")).byStatus;
    const page = await newPage("double-click");
    await page.goto(`${BASE}/products/classic-tee`);
    await page.getByTestId("add-to-cart").click();
    await page.goto(`${BASE}/cart`);
    await page.getByTestId("checkout-email").fill("double@example.com");
    await fillBuyer(page);
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
    await fillBuyer(page);
    await page.getByTestId("place-order").click();
    await page.getByRole("status").filter({ hasText: "Sold out" }).waitFor();
    await page.shot();
  });
});

describe("ops page", () => {
  it("rejects a wrong token on its first request", async () => {
    const page = await newPage("ops-refused");
    const calls = [];
    page.on("request", (request) => {
      if (new URL(request.url()).pathname.startsWith("/v1/")) calls.push(request.url());
    });
    await page.goto(`${BASE}/admin`);
    await page.getByTestId("admin-token").fill("not-the-token");
    await page.getByTestId("admin-sign-in").click();
    await page.getByTestId("admin-refused").waitFor();
    assert.equal(await page.getByTestId("admin-refused").textContent(), "That token was not accepted.");
    assert.deepEqual(
      calls.map((url) => new URL(url).pathname),
      ["/v1/admin/dashboard"],
    );
    await page.shot();
  });

  it("draws the sale the test runs as charts, with one request per refresh", async () => {
    // A small sale: three accepted checkouts of one SKU, and sold-out refusals of another.
    const listed = await (await fetch(`${BASE}/v1/products?limit=5`)).json();
    const sku = listed.items.find((p) => p.slug !== "flash-sale-sneaker").variants[0].sku;
    await adminCall("PUT", `/v1/admin/inventory/${sku}`, { onHand: 50 });
    await adminCall("PUT", "/v1/admin/inventory/FLASH-SNEAKER", { onHand: 0 });
    const buy = (item, i) =>
      fetch(`${BASE}/v1/checkout`, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "Idempotency-Key": `ops-sale-${item}-${i}-${Date.now()}`,
        },
        body: JSON.stringify({
          items: [{ sku: item, quantity: 1 }],
          customer: { email: `ops${i}@example.com` },
          payment: { token: "tok_ok" },
        }),
      });
    const answers = await Promise.all([
      ...[0, 1, 2].map((i) => buy(sku, i)),
      ...[0, 1, 2, 3].map((i) => buy("FLASH-SNEAKER", i)),
    ]);
    assert.deepEqual(
      answers.map((r) => r.status),
      [202, 202, 202, 409, 409, 409, 409],
    );

    const page = await newPage("ops");
    const calls = [];
    page.on("request", (request) => {
      if (new URL(request.url()).pathname.startsWith("/v1/")) calls.push(Date.now());
    });
    await page.goto(`${BASE}/admin`);
    await page.getByTestId("admin-token").fill(ADMIN);
    await page.getByTestId("admin-sign-in").click();
    const accepted = page.locator('[data-testid=chart-checkouts] path[data-series="accepted"]');
    await accepted.waitFor();
    assert.match(await accepted.getAttribute("d"), /^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+$/);
    const refused = page.locator('[data-testid=chart-checkouts] path[data-series="sold out (409)"]');
    assert.ok((await refused.getAttribute("d")).length > 0);
    assert.ok(
      (await page.locator('[data-testid=chart-latency] path[data-series="p99"]').getAttribute("d")).length >
        0,
    );
    // The SKU that sold is watched by default, with its bar.
    await page.locator(`[data-testid=chart-stock] [data-sku="${sku}"]`).waitFor();
    assert.match(await page.getByTestId("ops-updated").textContent(), /times in \S+/);
    const paid = Number(await page.getByTestId("ops-payments").locator("tbody td").nth(1).textContent());
    assert.ok(paid >= 2, `paid orders shown: ${paid}`);
    await page.getByTestId("ops-orders").locator("tbody tr").first().waitFor();
    await page.shot();

    // Over two refresh periods: one request each, nothing per SKU.
    const first = calls.length;
    await page.waitForTimeout(10_500);
    const refreshes = calls.length - first;
    assert.ok(refreshes >= 1 && refreshes <= 3, `requests in 10.5 s: ${refreshes}`);

    // The filter narrows the stock table without asking the server.
    const before = calls.length;
    await page.getByTestId("stock-filter").fill("no-such-sku");
    assert.equal(await page.getByTestId("ops-stock").locator("tbody tr").count(), 0);
    await page.getByTestId("stock-filter").fill(sku.slice(0, 4).toLowerCase());
    assert.ok((await page.getByTestId("ops-stock").locator("tbody tr").count()) >= 1);
    assert.ok(calls.length - before <= 1);
  });
});

describe("security headers", () => {
  it("serves every page under its Content-Security-Policy, unframeable, and each still works", async () => {
    // The API reference's renderer probes once whether it may compile code; the policy says no.
    const page = await newPage("csp-pages", {
      refused: [/script-src refused eval on .*\/docs/, /Evaluating a string as JavaScript violates/],
    });
    const pages = [
      ["/", () => page.getByTestId("product-card").first().waitFor()],
      ["/products/classic-tee", () => page.getByTestId("add-to-cart").waitFor()],
      ["/cart", () => page.locator("#app").filter({ hasNotText: "Loading…" }).waitFor()],
      [
        "/orders/01JANYORDER000000000000000-0",
        () => page.locator("#app").filter({ hasNotText: "Loading…" }).waitFor(),
      ],
      [
        "/pay/challenge/pi_sim_unknown",
        () => page.locator("#app").filter({ hasNotText: "Loading…" }).waitFor(),
      ],
      ["/admin", () => page.getByTestId("admin-token").waitFor()],
      ["/admin/orders", () => page.getByTestId("admin-token").waitFor()],
      ["/admin/orders/01JANYORDER000000000000000-0", () => page.getByTestId("admin-token").waitFor()],
      ["/admin/fulfillments", () => page.getByTestId("admin-token").waitFor()],
      ["/admin/products", () => page.getByTestId("admin-token").waitFor()],
      ["/admin/emails", () => page.getByTestId("admin-token").waitFor()],
      ["/admin/emails/0.evt_unknown", () => page.getByTestId("admin-token").waitFor()],
      ["/docs", () => page.getByText("Introduction").first().waitFor()],
      ["/no-such-page", () => page.getByRole("heading", { name: "Page not found" }).waitFor()],
    ];
    for (const [path, shown] of pages) {
      const response = await page.goto(`${BASE}${path}`);
      const headers = response.headers();
      assert.match(headers["content-security-policy"] ?? "", /frame-ancestors 'none'/, path);
      assert.equal(headers["x-content-type-options"], "nosniff", path);
      await shown();
    }
    // The reference's renderer inserts its stylesheet, and /docs's own policy lets it apply.
    await page.goto(`${BASE}/docs`);
    await page.getByText("Introduction").first().waitFor();
    assert.ok(
      await page.evaluate(() =>
        [...document.styleSheets].some((sheet) => sheet.ownerNode?.id === "scalar-style"),
      ),
    );
    // The recorder sees what the policy refuses: an injected inline script is refused and reported.
    await page.evaluate(() => {
      const script = document.createElement("script");
      script.textContent = "window.injected = true";
      document.body.append(script);
    });
    assert.equal(await page.evaluate(() => window.injected), undefined);
    await page.waitForTimeout(200);
    assert.ok(
      page.violations.some((v) => v.includes("script-src")),
      page.violations.join("\n"),
    );
    page.violations.length = 0;
  });

  it("cannot be framed by another site", async () => {
    const page = await newPage("csp-framed");
    await page.route("https://elsewhere.example/", (route) =>
      route.fulfill({ contentType: "text/html", body: `<iframe src="${BASE}/admin"></iframe>` }),
    );
    await page.goto("https://elsewhere.example/");
    await page.waitForTimeout(500);
    const frame = page.frames().find((f) => f.url().startsWith(BASE));
    const framed = frame
      ? await frame
          .locator("[data-testid=admin-token]")
          .count()
          .catch(() => 0)
      : 0;
    assert.equal(framed, 0, "the ops page does not render inside another site's frame");
    page.violations.length = 0;
  });
});

describe("finding things in the shop", () => {
  it("searches the catalog and sorts the results by price", async () => {
    const page = await newPage("search");
    await page.goto(`${BASE}/`);
    await page.getByTestId("product-card").first().waitFor();
    await page.getByTestId("search").fill("jacket");
    await page.getByTestId("search").press("Enter");
    await page.waitForURL(/[?&]q=jacket/);
    await page
      .getByTestId("results-heading")
      .filter({ hasText: /results? for “jacket”/ })
      .waitFor();
    const titles = await page.getByTestId("product-card").locator("h2").allTextContents();
    assert.ok(titles.length >= 2, `found ${titles.join(", ")}`);
    for (const title of titles) assert.match(title, /jacket/i);

    await page.getByTestId("sort").selectOption("price-desc");
    await page.waitForURL(/sort=price-desc/);
    await page.getByTestId("results-heading").waitFor();
    const prices = (await page.getByTestId("product-card").locator(".price").allTextContents()).map((text) =>
      Number(text.replace(/[^\d.]/g, "")),
    );
    assert.deepEqual(
      prices,
      [...prices].sort((a, b) => b - a),
      "highest price first",
    );
    assert.equal(prices.length, titles.length, "the same results, in another order");

    await page.getByTestId("search").fill("no-such-thing-anywhere");
    await page.getByTestId("search").press("Enter");
    await page.getByTestId("no-results").waitFor();
    await page.shot();
  });

  it("offers a search and the way back on a product that does not exist", async () => {
    const page = await newPage("product-404");
    await page.goto(`${BASE}/products/denim-jackett`);
    await page.getByTestId("not-found-help").waitFor();
    assert.equal(await page.getByTestId("search").inputValue(), "denim jackett");
    await page.getByTestId("search").fill("denim jacket");
    await page.getByTestId("search").press("Enter");
    await page.getByTestId("product-card").first().waitFor();
    assert.match(await page.getByTestId("product-card").first().locator("h2").textContent(), /Denim Jacket/);

    const missing = await newPage("page-404");
    const response = await missing.goto(`${BASE}/no/such/page`);
    assert.equal(response.status(), 404);
    await missing.getByTestId("search").waitFor();
    assert.ok(await missing.getByRole("link", { name: "All products" }).isVisible());
  });

  it("lays the catalog out over a phone's whole width, two cards a row", async () => {
    const page = await newPage("mobile-home", { viewport: { width: 390, height: 844 }, mobile: true });
    await page.goto(`${BASE}/?sort=title`);
    const cards = page.getByTestId("product-card");
    await cards.nth(3).waitFor();
    await page.waitForLoadState("networkidle");
    const layout = await page.evaluate(() => {
      const boxes = [...document.querySelectorAll('[data-testid="product-card"]')].slice(0, 4).map((card) => {
        const box = card.getBoundingClientRect();
        const img = card.querySelector("img").getBoundingClientRect();
        return { x: box.x, y: box.y, width: box.width, imgWidth: img.width, imgHeight: img.height };
      });
      return { boxes, viewport: window.innerWidth, scrollWidth: document.documentElement.scrollWidth };
    });
    const [a, b, c] = layout.boxes;
    assert.equal(layout.scrollWidth, layout.viewport, "nothing wider than the screen");
    assert.equal(Math.round(a.y), Math.round(b.y), "the first two cards share a row");
    assert.ok(c.y > a.y, "the third starts the next row");
    // Two columns fill the width: together with the gap and the page's margins, nearly all of it.
    assert.ok(
      a.width + b.width > layout.viewport * 0.85,
      `cards ${a.width} + ${b.width} of ${layout.viewport}`,
    );
    // The picture is as wide as its card (less padding), square, not a fixed 160 px.
    assert.ok(
      a.imgWidth > a.width - 24 && a.imgWidth !== 160,
      `picture ${a.imgWidth} in a card of ${a.width}`,
    );
    assert.ok(Math.abs(a.imgWidth - a.imgHeight) < 2, "square picture");
    await page.screenshot({ path: "test/screenshots/mobile-home.png" });
  });
});

describe("pricing at checkout", () => {
  const run = Date.now().toString(36).toUpperCase();
  const sku = `PRICED-${run}`;
  const code = `SAVE20-${run}`;

  before(async () => {
    await adminCall("PUT", "/v1/admin/pricing", {
      taxMode: "exclusive",
      taxRates: [{ country: "US", region: "CA", rate: 7.25 }],
      zones: [
        {
          id: "us",
          name: "United States",
          countries: [{ country: "US" }],
          taxShipping: true,
          methods: [
            { id: "ground", name: "Ground", currency: "USD", rate: { kind: "flat", amount: 800 } },
            { id: "express", name: "Express", currency: "USD", rate: { kind: "flat", amount: 1500 } },
          ],
        },
      ],
    });
    await adminCall("POST", "/v1/admin/products", {
      slug: `priced-${run.toLowerCase()}`,
      title: "Priced Tee",
      category: "tees",
      variants: [{ sku, title: "One size", price: { amount: 2500, currency: "USD" } }],
    });
    await adminCall("PUT", `/v1/admin/inventory/${sku}`, { onHand: 10 });
    await adminCall("POST", "/v1/admin/discounts", {
      code,
      kind: "percentage",
      value: 20,
      maxUses: 5,
      maxUsesPerCustomer: 1,
    });
  });
  // The shop charges no shipping or tax again for whatever runs after.
  after(() => adminCall("PUT", "/v1/admin/pricing", {}));

  async function toCart(page, email) {
    await page.goto(`${BASE}/products/priced-${run.toLowerCase()}`);
    await page.getByTestId("add-to-cart").click();
    await page.getByTestId("cart-link").filter({ hasText: "(1)" }).waitFor();
    await page.goto(`${BASE}/cart`);
    await page.getByTestId("checkout-email").fill(email);
  }

  it("says why a code does not apply, shows what a good one takes off, the shipping choice, tax and total, and charges what it showed", async () => {
    const page = await newPage("pricing-checkout");
    await toCart(page, "priced@example.com");
    await page.getByTestId("summary-total").filter({ hasText: "$25.00" }).waitFor();
    await page.getByTestId("shipping-note").filter({ hasText: "Enter your address" }).waitFor();

    // A code that is not the shop's: the answer says so, and the total stays as it was.
    await page.getByLabel("Discount code").fill("NOPE-123");
    await page.getByTestId("apply-code").click();
    const answer = page.getByTestId("discount-answer");
    await answer.filter({ hasText: "don't recognise" }).waitFor();
    assert.equal(await answer.getAttribute("aria-live"), "polite");
    assert.equal(await page.getByTestId("summary-discount").isVisible(), false);

    // The good code, typed in lower case (Enter applies it; it does not place the order).
    await page.getByLabel("Discount code").fill(code.toLowerCase());
    await page.getByLabel("Discount code").press("Enter");
    await answer.filter({ hasText: `Code ${code} applied: $5.00 off.` }).waitFor();
    assert.equal(await page.getByTestId("summary-discount").textContent(), "−$5.00");
    assert.equal(page.url(), `${BASE}/cart`);

    // The address (a name with markup in it, shown back as text), then the methods offered there.
    await fillBuyer(page, { name: "<b>Ada</b> Shopper" });
    await page.getByTestId("checkout-region").fill("CA");
    await page.getByTestId("shipping-methods").waitFor();
    assert.equal(await page.getByTestId("shipping-ground").isChecked(), true, "the first method is chosen");
    assert.match(await page.getByTestId("shipping-methods").textContent(), /Ground\$8\.58.*Express\$16\.09/);
    await page.getByTestId("shipping-express").check();
    // 2500 - 500 = 2000; tax 7.25 % of 2000 = 145, of 1500 shipping = 109; 2000 + 1500 + 254.
    await page.getByTestId("summary-total").filter({ hasText: "$37.54" }).waitFor();
    assert.equal(await page.getByTestId("summary-shipping").textContent(), "$15.00");
    assert.equal(await page.getByTestId("summary-tax").textContent(), "$2.54");
    assert.match(await page.getByTestId("order-summary").textContent(), /Tax is added to the prices shown/);
    await page.shot();

    // The 202 as the page received it (read before the page moves on to the order).
    const answers = [];
    await page.route("**/v1/checkout", async (route) => {
      const response = await route.fetch();
      answers.push({ status: response.status(), body: await response.json() });
      await route.fulfill({ response });
    });
    await page.getByTestId("place-order").click();
    await page.waitForURL(/\/orders\//);
    const [{ status, body }] = answers;
    assert.equal(status, 202);
    assert.equal(body.total.amount, 3754, "the 202 charges the total the page showed");
    assert.deepEqual(body.totals.discount, { amount: 500, currency: "USD" });
    await page.getByTestId("order-status").filter({ hasText: "Paid" }).waitFor({ timeout: 20_000 });
    assert.equal(await page.getByTestId("order-total").textContent(), "$37.54");
    assert.equal(await page.getByTestId("order-discount").textContent(), "−$5.00");
    assert.match(await page.getByTestId("order-totals").textContent(), new RegExp(`Discount \\(${code}\\)`));
    assert.match(await page.getByTestId("order-totals").textContent(), /Shipping \(Express\)\$15\.00/);
    const shown = page.getByTestId("order-address");
    assert.match(await shown.textContent(), /<b>Ada<\/b> Shopper/);
    assert.equal(await shown.locator("b").count(), 0, "what the buyer typed is text, not markup");
    await page.shot();
    const { uses } = await adminCall("GET", `/v1/admin/discounts/${code}`);
    assert.equal(uses.held + uses.used, 1);

    // The same buyer again: the code allows one use each, so checkout refuses it (409) and says why.
    const again = await newPage("pricing-code-used");
    await toCart(again, "priced@example.com");
    await again.getByLabel("Discount code").fill(code);
    await again.getByTestId("apply-code").click();
    await again.getByTestId("discount-answer").filter({ hasText: "applied" }).waitFor();
    await fillBuyer(again);
    await again.getByTestId("checkout-region").fill("CA");
    await again.getByTestId("shipping-ground").waitFor();
    await again.getByTestId("summary-total").filter({ hasText: "$30.03" }).waitFor();
    await again.getByTestId("place-order").click();
    await again.getByTestId("discount-answer").filter({ hasText: "already used this code" }).waitFor();
    await again.getByRole("status").filter({ hasText: "The order was not placed" }).waitFor();
    // Without the code: 2500 + 181 tax + 800 + 58.
    await again.getByTestId("summary-total").filter({ hasText: "$35.39" }).waitFor();
    assert.equal(await again.getByTestId("remove-code").isVisible(), false);
    await again.shot();
  });

  it("shows no shipping choice for a cart with nothing that ships, and fits a phone", async () => {
    const slug = `gift-${run.toLowerCase()}`;
    await adminCall("POST", "/v1/admin/products", {
      slug,
      title: "Gift Card",
      category: "gifts",
      requiresShipping: false,
      variants: [{ sku: `GIFT-${run}`, title: "25", price: { amount: 2500, currency: "USD" } }],
    });
    await adminCall("PUT", `/v1/admin/inventory/GIFT-${run}`, { onHand: 10 });
    const page = await newPage("pricing-no-shipping", {
      viewport: { width: 390, height: 844 },
      mobile: true,
    });
    await page.goto(`${BASE}/products/${slug}`);
    await page.getByTestId("add-to-cart").click();
    await page.goto(`${BASE}/cart`);
    await page.getByTestId("summary-total").filter({ hasText: "$25.00" }).waitFor();
    assert.equal(await page.getByTestId("shipping-methods").isVisible(), false);
    assert.equal(await page.getByTestId("summary-shipping").isVisible(), false);
    assert.equal(await page.getByTestId("shipping-note").textContent(), "");
    // A code applied stays applied when the cart changes, priced again for the new cart.
    await page.getByLabel("Discount code").fill(code);
    await page.getByTestId("apply-code").click();
    await page.getByTestId("discount-answer").filter({ hasText: "$5.00 off" }).waitFor();
    await page.getByLabel("Quantity of Gift Card (25)").fill("2");
    await page.getByLabel("Quantity of Gift Card (25)").dispatchEvent("change");
    await page.getByTestId("discount-answer").filter({ hasText: "$10.00 off" }).waitFor();
    await page.getByTestId("summary-total").filter({ hasText: "$40.00" }).waitFor();
    const width = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.equal(width[0], width[1], "nothing wider than the screen");
    await page.shot();
  });
});
