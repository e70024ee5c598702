// The promotion set up from /admin, in Chromium: a capped discount code created through its screen
// (a refused field shown beside it first), used by a buyer, seen listed with its uses, its cap
// changed; a small batch generated and its CSV downloaded; tax and shipping set in the settings
// screen, and a change saved meanwhile elsewhere refused (412) rather than overwritten. Then the
// priced order's subtotal, discount, shipping and tax on the order screens and the ops page.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ADMIN, adminCall, BASE, newPage, startService, stopService, useBrowser } from "./harness.mjs";

const run = Date.now().toString(36).toUpperCase();
const SKU = `PROMO-${run}`;
const CODE = `CAP${run}`;

async function until(what, check, timeoutMs = 45_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** A buyer's checkout through the API, paid by the simulator. */
async function buy(extra) {
  const response = await fetch(`${BASE}/v1/checkout`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
    body: JSON.stringify({
      items: [{ sku: SKU, quantity: 1 }],
      customer: { email: `buyer-${crypto.randomUUID()}@example.com`, name: "Promo Buyer" },
      shippingAddress: {
        name: "Promo Buyer",
        line1: "1 Market St",
        city: "San Francisco",
        region: "CA",
        postalCode: "94105",
        country: "US",
      },
      payment: { token: "tok_ok" },
      ...extra,
    }),
  });
  assert.equal(response.status, 202, await response.clone().text());
  const { orderId } = await response.json();
  await until(
    `order ${orderId} paid`,
    async () => (await adminCall("GET", `/v1/admin/orders/${encodeURIComponent(orderId)}`)).status === "paid",
  );
  return orderId;
}

let server;
before(async () => {
  server = await startService();
  await adminCall("POST", "/v1/admin/products", {
    slug: `promo-${run.toLowerCase()}`,
    title: "Promo Hoodie",
    category: "apparel",
    variants: [{ sku: SKU, title: "Grey", price: { amount: 5000, currency: "USD" } }],
  });
  await adminCall("PUT", `/v1/admin/inventory/${SKU}`, { onHand: 20 });
});
after(() => stopService(server));
useBrowser();

describe("discount codes and pricing from /admin", () => {
  it("creates a capped code, lists its uses, changes its cap and downloads a batch's codes", async () => {
    const ops = await newPage("admin-discounts");
    await ops.goto(`${BASE}/admin/discounts`);
    await ops.getByTestId("admin-token").fill(ADMIN);
    await ops.getByTestId("admin-sign-in").click();

    // A percentage over 100 is refused, the reason beside the value.
    const form = ops.getByTestId("code-form");
    await form.getByTestId("code-code").fill(CODE.toLowerCase());
    await form.getByTestId("code-value").fill("150");
    await form.getByTestId("code-max-uses").fill("3");
    await form.getByTestId("code-per-customer").fill("1");
    await form.getByTestId("code-create").click();
    await ops.locator('[data-testid=field-error][data-for="value"]').waitFor();
    assert.match(await ops.getByTestId("code-outcome").textContent(), /value/);

    await form.getByTestId("code-value").fill("20");
    await form.getByTestId("code-create").click();
    await until("the code created", async () =>
      /Created/.test((await ops.getByTestId("code-outcome").textContent()) ?? ""),
    );
    assert.equal(await ops.locator("[data-testid=field-error]").count(), 0);
    const row = ops.getByTestId("codes-table").locator("tr", { hasText: CODE });
    await row.waitFor();
    assert.match(await row.textContent(), /20 %/);
    assert.doesNotMatch(await ops.locator("main").textContent(), /\bnull\b|undefined/);

    // A buyer uses it; the list shows the use, and the cap left.
    await buy({ discountCode: CODE.toLowerCase() });
    await until("the use counted", async () => {
      await ops.reload();
      const cells = await ops
        .getByTestId("codes-table")
        .locator("tr", { hasText: CODE })
        .locator("td")
        .allTextContents();
      // held, used, left
      return cells.slice(9, 12).join("|") === "0|1|2";
    });

    // Its own screen: the usage report, then the cap raised to 5; removing the per-customer cap is refused.
    await ops.getByTestId("codes-table").getByRole("link", { name: CODE }).click();
    await ops.getByTestId("code-name").waitFor();
    await until("the usage report", async () => {
      await ops.reload();
      await ops.getByTestId("code-usage").waitFor();
      return /1 paid/.test(await ops.getByTestId("code-usage").textContent());
    });
    const revenue = await ops.getByTestId("code-revenue").textContent();
    assert.match(revenue, /\$10\.00/, "20 % of 50.00 given");
    await ops.getByTestId("edit-max-uses").fill("5");
    await ops.getByTestId("edit-save").click();
    await until("the cap changed", async () =>
      /Saved/.test((await ops.getByTestId("discount-outcome").textContent()) ?? ""),
    );
    assert.equal(await ops.locator('[data-fact="Cap"]').textContent(), "5");
    await ops.screenshot({ path: "test/screenshots/admin-discount-code.png", fullPage: true });
    assert.match(await ops.locator('[data-fact="Uses"]').textContent(), /1 used · 4 left/);
    assert.doesNotMatch(await ops.locator("main").textContent(), /\bnull\b|undefined/);
    await ops.getByTestId("edit-per-customer").fill("");
    await ops.getByTestId("edit-save").click();
    await ops.locator('[data-testid=field-error][data-for="maxUsesPerCustomer"]').waitFor();
    assert.match(await ops.getByTestId("edit-outcome").textContent(), /Refused, nothing changed/);
    assert.equal((await adminCall("GET", `/v1/admin/discounts/${CODE}`)).maxUsesPerCustomer, 1);

    // A batch of 3 single-use codes, and its CSV.
    await ops.goto(`${BASE}/admin/discounts`);
    const batch = ops.getByTestId("batch-form");
    const prefix = `B${run}`.slice(0, 16);
    await batch.getByTestId("batch-prefix").fill(prefix);
    await batch.getByTestId("batch-count").fill("3");
    await batch.getByLabel("Kind").selectOption("fixed:order");
    await batch.getByTestId("batch-value").fill("2.50");
    await batch.getByTestId("batch-create").click();
    const [download] = await Promise.all([
      ops.waitForEvent("download"),
      ops.getByTestId("batch-download").click(),
    ]);
    assert.equal(download.suggestedFilename(), `${prefix.toLowerCase()}-codes.csv`);
    const lines = (await new Response(await download.createReadStream()).text()).trim().split("\r\n");
    assert.equal(lines[0], "code");
    assert.equal(lines.length, 4);
    for (const code of lines.slice(1)) assert.match(code, new RegExp(`^${prefix}-[A-Z2-7]{12}$`));
    assert.match(
      await ops.getByTestId("codes-table").locator("tr", { hasText: prefix }).textContent(),
      /3 codes.*\$2\.50 per order/,
    );

    // "Some products" naming none is asked for before anything is sent.
    const form2 = ops.getByTestId("code-form");
    await form2.getByTestId("code-code").fill(`NONE${run}`);
    await form2.getByTestId("code-value").fill("5");
    await form2.getByLabel("Applies to").selectOption("products");
    await form2.getByTestId("code-create").click();
    await ops.locator('[data-testid=field-error][data-for="appliesTo.products"]').waitFor();
    assert.equal(
      (
        await fetch(`${BASE}/v1/admin/discounts/NONE${run}`, {
          headers: { Authorization: `Bearer ${ADMIN}` },
        })
      ).status,
      404,
    );

    // Past a page of 50, the rest follow on "More codes", in code order.
    for (let i = 0; i < 50; i++) {
      await adminCall("POST", "/v1/admin/discounts", {
        code: `PAGE${run}${String(i).padStart(2, "0")}`,
        kind: "free_shipping",
      });
    }
    await ops.reload();
    const listed = ops.getByTestId("codes-table").locator("tbody tr");
    await listed.first().waitFor();
    assert.equal(await listed.count(), 50);
    await ops.getByTestId("codes-more").click();
    await until("the next page", async () => (await listed.count()) === 52);
    assert.equal(await ops.getByTestId("codes-more").count(), 0);
    await ops.shot();
  });

  it("sets tax and shipping, refuses a change saved meanwhile, and shows a priced order's totals", async () => {
    const ops = await newPage("admin-pricing");
    await ops.goto(`${BASE}/admin/pricing`);
    await ops.getByTestId("admin-token").fill(ADMIN);
    await ops.getByTestId("admin-sign-in").click();
    await ops.getByTestId("pricing-form").waitFor();

    await ops.getByLabel("Prices").selectOption("exclusive");
    await ops.getByTestId("tax-add").click();
    await ops.getByTestId("tax-country").fill("US");
    await ops.getByTestId("tax-region").fill("CA");
    await ops.getByTestId("tax-rate").fill("7.255");
    await ops.getByTestId("zone-add").click();
    const zone = ops.getByTestId("zone");
    await zone.getByTestId("zone-id").fill("us");
    await zone.getByTestId("zone-name").fill("United States");
    await zone.getByTestId("zone-countries").fill("US");
    await zone.getByLabel("Shipping is taxed").check();
    await zone.getByTestId("method-id").fill("ground");
    await zone.getByTestId("method-name").fill("Ground <b>fast</b>");
    await zone.getByTestId("method-amount").fill("8.00");

    // Three decimals are refused, beside the rate; nothing is saved.
    await ops.getByTestId("pricing-save").click();
    await ops.locator('[data-testid=field-error][data-for="taxRates.0.rate"]').waitFor();
    await ops.screenshot({ path: "test/screenshots/admin-pricing-form.png", fullPage: true });
    assert.equal((await adminCall("GET", "/v1/admin/pricing")).version, 0);

    await ops.getByTestId("tax-rate").fill("7.25");
    await ops.getByTestId("pricing-save").click();
    await until("the settings saved", async () =>
      /Saved as version 1/.test((await ops.getByTestId("pricing-outcome").textContent()) ?? ""),
    );
    const saved = await adminCall("GET", "/v1/admin/pricing");
    assert.deepEqual(saved.taxRates, [{ country: "US", region: "CA", rate: 7.25 }]);
    assert.deepEqual(saved.zones[0].methods[0].rate, { kind: "flat", amount: 800 });

    // Someone else saves meanwhile: this screen's next save is refused, not written over theirs.
    const response = await fetch(`${BASE}/v1/admin/pricing`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json", "If-Match": '"1"' },
      body: JSON.stringify({ ...saved, version: undefined, updatedAt: undefined, taxMode: "exclusive" }),
    });
    assert.equal(response.status, 200);
    await ops.getByTestId("tax-rate").fill("8");
    await ops.getByTestId("pricing-save").click();
    await until("the refusal", async () =>
      /changed meanwhile/.test((await ops.getByTestId("pricing-outcome").textContent()) ?? ""),
    );
    assert.equal((await adminCall("GET", "/v1/admin/pricing")).taxRates[0].rate, 7.25);
    await ops.getByTestId("pricing-reload").click();
    await until("the reload", async () =>
      /Version 2/.test((await ops.getByTestId("pricing-version").textContent()) ?? ""),
    );
    assert.equal(await ops.getByTestId("tax-rate").inputValue(), "7.25");
    // What the operator typed comes back as text, never as markup.
    assert.equal(await ops.getByTestId("method-name").inputValue(), "Ground <b>fast</b>");

    // A priced order: 50.00 - 20 % = 40.00, ground 8.00, tax 7.25 % of 48.00 = 3.48.
    const id = await buy({ discountCode: CODE, shipping: { method: "ground" } });
    await ops.goto(`${BASE}/admin/orders?q=${encodeURIComponent(id)}`);
    await ops.getByTestId("orders-table").locator("tbody tr").first().waitFor();
    const cells = await ops
      .getByTestId("orders-table")
      .locator("tbody tr")
      .first()
      .locator("td")
      .allTextContents();
    assert.deepEqual(cells.slice(6), [
      "$50.00",
      `−$10.00 (${CODE})`,
      "$8.00 · Ground <b>fast</b>",
      "$3.48",
      "$51.48",
    ]);
    await ops.goto(`${BASE}/admin/orders/${encodeURIComponent(id)}`);
    assert.equal(await ops.locator('[data-fact="Discount"]').textContent(), `$10.00 · code ${CODE}`);
    assert.equal(await ops.locator("b").count(), 0, "no markup from a method's name");
    await ops.goto(`${BASE}/admin`);
    const recent = ops.getByTestId("ops-orders").locator("tr", { hasText: id });
    await recent.waitFor();
    assert.match(await recent.textContent(), /−\$10\.00 \(CAP.*\$8\.00 · Ground.*\$3\.48.*\$51\.48/);
    await ops.shot();
  });
});
