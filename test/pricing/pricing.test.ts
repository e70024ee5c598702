import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { codeUseLine } from "../../src/inventory/allowances";
import { holdCart } from "../../src/inventory/inventory.holds";
import { readSettings } from "../../src/pricing/pricing.storage";
import {
  type Accepted,
  ADMIN,
  admin,
  brokenD1,
  call,
  checkoutBody,
  createProduct,
  JSON_HEADERS,
  postCheckout,
  readOrder,
  settledOrder,
  settleShards,
  stockedSku,
  stockOf,
  unique,
} from "../helpers";

/**
 * The shop's tax rates and shipping zones: edited by the operator through the admin API (versioned,
 * with If-Match), read by checkout at the edge from KV, so D1 down does not stop pricing.
 */
const settings = {
  taxMode: "inclusive",
  taxRates: [
    { country: "DE", rate: 19 },
    { country: "AT", rate: 20 },
    { country: "AT", region: "JM", rate: 10.5 },
  ],
  zones: [
    {
      id: "dach",
      name: "Germany and Austria",
      countries: [{ country: "DE" }, { country: "AT" }],
      taxShipping: true,
      methods: [
        { id: "standard", name: "Standard", currency: "EUR", rate: { kind: "flat", amount: 495 } },
        {
          id: "express",
          name: "Express",
          currency: "EUR",
          rate: {
            kind: "bands",
            bands: [
              { from: 0, amount: 1_500 },
              { from: 10_000, amount: 900 },
            ],
          },
        },
      ],
    },
  ],
};

async function put(body: unknown, headers: Record<string, string> = {}) {
  return call("/v1/admin/pricing", {
    method: "PUT",
    headers: { ...ADMIN, ...JSON_HEADERS, ...headers },
    body: JSON.stringify(body),
  });
}

async function current() {
  const response = await admin("GET", "/v1/admin/pricing");
  expect(response.status).toBe(200);
  return {
    etag: response.headers.get("ETag") ?? "",
    body: (await response.json()) as Record<string, unknown>,
  };
}

describe("pricing settings", () => {
  it("are edited over the version read, refused over one that moved on, and kept whole", async () => {
    const before = await current();
    expect(before.etag).toBe(`"${before.body.version}"`);

    const saved = await put(settings, { "If-Match": before.etag });
    expect(saved.status).toBe(200);
    const body = (await saved.json()) as Record<string, unknown>;
    expect(body.version).toBe(Number(before.body.version) + 1);
    expect(body.zones).toMatchObject([{ id: "dach", taxShipping: true }]);
    expect(saved.headers.get("ETag")).toBe(`"${body.version}"`);

    // A second edit made over the version read before the first is refused, and changes nothing.
    const stale = await put({ ...settings, taxMode: "exclusive" }, { "If-Match": before.etag });
    expect(stale.status).toBe(412);
    expect(((await stale.json()) as { code: string }).code).toBe("settings_changed");
    expect((await current()).body).toEqual(body);

    const malformed = await put(settings, { "If-Match": "yesterday" });
    expect(malformed.status).toBe(400);
  });

  it("refuse what does not hold together, naming the field, and change nothing", async () => {
    const before = await current();
    const cases: [unknown, string][] = [
      [{ ...settings, taxRates: [{ country: "DE", rate: 19.125 }] }, "taxRates.0.rate"],
      [
        {
          ...settings,
          taxRates: [
            { country: "DE", rate: 19 },
            { country: "DE", rate: 7 },
          ],
        },
        "taxRates.1",
      ],
      [{ ...settings, taxRates: [{ country: "Germany", rate: 19 }] }, "taxRates.0.country"],
      [{ ...settings, zones: [settings.zones[0], settings.zones[0]] }, "zones.1.id"],
      [
        {
          ...settings,
          zones: [
            {
              ...settings.zones[0],
              methods: [
                {
                  id: "x",
                  name: "X",
                  currency: "EUR",
                  rate: { kind: "bands", bands: [{ from: 10, amount: 1 }] },
                },
              ],
            },
          ],
        },
        "zones.0.methods.0.rate.bands",
      ],
      [{ ...settings, surcharge: 5 }, "surcharge"],
      [{ ...settings, zones: [{ ...settings.zones[0], methods: [] }] }, "zones.0.methods"],
    ];
    for (const [body, path] of cases) {
      const response = await put(body);
      expect(response.status, path).toBe(400);
      const problem = (await response.json()) as { code: string; errors: { path: string }[] };
      expect(problem.code).toBe("validation_failed");
      expect(problem.errors.map((error) => error.path)).toContain(path);
    }
    expect((await current()).body).toEqual(before.body);
  });

  it("are read by checkout's edge from KV while D1 is down", async () => {
    const saved = (await (await put(settings)).json()) as { version: number };
    const scope = {
      env: { ...env, DB: brokenD1 },
      origin: `https://pricing-${saved.version}.example`,
      waitUntil: () => undefined,
    };
    const read = await readSettings(scope);
    expect(read.version).toBe(saved.version);
    expect(read.taxRates).toContainEqual({ country: "AT", region: "JM", rate: 10.5 });
  });

  it("answer 503 at checkout's edge when neither KV nor D1 can be read", async () => {
    // A change makes this isolate forget what it remembered of them.
    expect((await put(settings)).status).toBe(200);
    const brokenKv = new Proxy(env.CATALOG, {
      get(object, property) {
        if (property === "get") {
          return () => Promise.reject(new Error("KV GET failed: simulated outage"));
        }
        const value = Reflect.get(object, property);
        return typeof value === "function" ? value.bind(object) : value;
      },
    });
    const scope = {
      env: { ...env, DB: brokenD1, CATALOG: brokenKv },
      origin: "https://pricing-outage.example",
      waitUntil: () => undefined,
    };
    await expect(readSettings(scope)).rejects.toMatchObject({ code: "service_unavailable" });
  });

  it("need the admin token", async () => {
    expect((await call("/v1/admin/pricing")).status).toBe(401);
    const response = await call("/v1/admin/pricing", {
      method: "PUT",
      headers: JSON_HEADERS,
      body: JSON.stringify(settings),
    });
    expect(response.status).toBe(401);
  });
});

type Totals = Record<
  "subtotal" | "discount" | "shipping" | "tax" | "total",
  { amount: number; currency: string }
>;
type Priced = Accepted & { totals: Totals };

const CALIFORNIA = {
  line1: "1 Market St",
  city: "San Francisco",
  region: "CA",
  postalCode: "94105",
  country: "US",
};
const BERLIN = { line1: "Unter den Linden 1", city: "Berlin", postalCode: "10117", country: "DE" };

const usShop = {
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
        {
          id: "express",
          name: "Express",
          currency: "USD",
          rate: { kind: "free_above", amount: 2_500, threshold: 5_000 },
        },
      ],
    },
  ],
};

const euShop = {
  taxMode: "inclusive",
  taxRates: [{ country: "DE", rate: 19 }],
  zones: [
    {
      id: "de",
      name: "Germany",
      countries: [{ country: "DE" }],
      taxShipping: true,
      methods: [{ id: "dhl", name: "DHL", currency: "EUR", rate: { kind: "flat", amount: 495 } }],
    },
  ],
};

async function useSettings(body: unknown) {
  const response = await put(body);
  expect(response.status).toBe(200);
}

const buy = (sku: string, quantity: number, extra: Record<string, unknown>) =>
  postCheckout(checkoutBody([{ sku, quantity }], "tok_ok", extra));

describe("checkout priced with the shop's settings", () => {
  it("adds shipping and tax on top, shows them on the 202 and the order, and charges the total", async () => {
    await useSettings(usShop);
    const sku = await stockedSku(10);
    const response = await buy(sku, 3, { shippingAddress: CALIFORNIA, shipping: { method: "ground" } });
    expect(response.status).toBe(202);
    const accepted = await response.json<Priced>();
    // 3 x 1999 = 5997; tax 7.25 % of 5997 = 434.78 -> 435, of shipping 800 = 58; 5997 + 800 + 493.
    const usd = (amount: number) => ({ amount, currency: "USD" });
    expect(accepted.totals).toMatchObject({
      subtotal: usd(5_997),
      discount: usd(0),
      shipping: usd(800),
      tax: usd(493),
      total: usd(7_290),
    });
    expect(accepted.total).toEqual(usd(7_290));
    expect((await settledOrder(accepted.orderId, accepted.orderToken, 60_000)).status).toBe("paid");
    const order = await (await readOrder(accepted.orderId, accepted.orderToken)).json<{
      totals: Totals;
      shippingMethod: { id: string };
    }>();
    expect(order.totals).toEqual(accepted.totals);
    expect(order.shippingMethod).toEqual({ id: "ground", name: "Ground" });
    const charges = (await (
      await admin("GET", `/v1/admin/simulator/charges?orderId=${accepted.orderId}`)
    ).json()) as { charges: { amount: { amount: number } }[] };
    expect(charges.charges.map((charge) => charge.amount.amount)).toEqual([7_290]);

    // One unit of three back: its share of what the line was charged (5997 + 435 = 6432): 2144.
    const refunded = await call(`/v1/admin/orders/${accepted.orderId}/refunds`, {
      method: "POST",
      headers: { ...ADMIN, ...JSON_HEADERS, "Idempotency-Key": unique("refund") },
      body: JSON.stringify({ lines: [{ sku, quantity: 1 }], restock: false }),
    });
    expect(refunded.status).toBe(201);
    expect(((await refunded.json()) as { amount: { amount: number } }).amount.amount).toBe(2_144);
  });

  it("offers each method with what it costs the cart, free above its threshold", async () => {
    await useSettings(usShop);
    const sku = await stockedSku(10);
    const methods = async (items: string, region = "CA") =>
      (await (await call(`/v1/shipping-methods?country=US&region=${region}&items=${items}`)).json()) as {
        methods: { id: string; price: { amount: number } }[];
      };
    // Shipping is taxed in this zone: 800 + 58; express 2500 + 181 below 5000, free from it.
    expect((await methods(`${sku}:1`)).methods).toEqual([
      { id: "ground", name: "Ground", price: { amount: 858, currency: "USD" } },
      { id: "express", name: "Express", price: { amount: 2_681, currency: "USD" } },
    ]);
    expect((await methods(`${sku}:3`)).methods.map((method) => method.price.amount)).toEqual([858, 0]);
    expect((await methods(`${sku}:1`, "TX")).methods.map((method) => method.price.amount)).toEqual([
      800, 2_500,
    ]);
    expect((await call(`/v1/shipping-methods?country=FR&items=${sku}:1`)).status).toBe(200);
    expect((await call("/v1/shipping-methods?country=US&items=NOPE-1:1")).status).toBe(400);
    expect((await call(`/v1/shipping-methods?country=US&items=${sku}:0`)).status).toBe(400);
  });

  it("finds tax inside prices that include it, shipping included where the zone says", async () => {
    await useSettings(euShop);
    const product = await createProduct({
      variants: [
        {
          sku: `${unique("EU").toUpperCase()}-A`,
          title: "A",
          price: { amount: 1_999, currency: "EUR" },
          attributes: {},
        },
      ],
    });
    const sku = product.variants[0]?.sku ?? "";
    expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 5 })).status).toBe(200);
    const response = await buy(sku, 2, { shippingAddress: BERLIN, shipping: { method: "dhl" } });
    expect(response.status).toBe(202);
    const { totals } = await response.json<Priced>();
    // 3998 includes 3998 - 3360 = 638 of tax; 495 includes 495 - 416 = 79.
    expect(totals.tax.amount).toBe(717);
    expect(totals.total.amount).toBe(4_493);
    expect(totals).toMatchObject({ taxIncluded: true });
  });

  it("refuses a cart it cannot price, saying what to change, and holds nothing", async () => {
    await useSettings(usShop);
    const sku = await stockedSku(4);
    const cases: [Record<string, unknown>, number, string, string?][] = [
      [{ shipping: { method: "ground" } }, 400, "validation_failed", "shippingAddress"],
      [{ shippingAddress: CALIFORNIA }, 400, "validation_failed", "shipping.method"],
      [
        { shippingAddress: CALIFORNIA, shipping: { method: "teleport" } },
        400,
        "validation_failed",
        "shipping.method",
      ],
      [{ shippingAddress: { ...BERLIN }, shipping: { method: "ground" } }, 422, "shipping_unavailable"],
      [
        { shippingAddress: CALIFORNIA, shipping: { method: "ground" }, discountCode: "NOPE" },
        422,
        "discount_not_applicable",
      ],
      [
        { shippingAddress: CALIFORNIA, shipping: { method: "ground", speed: "fast" } },
        400,
        "validation_failed",
        "shipping.speed",
      ],
    ];
    for (const [extra, status, code, path] of cases) {
      const response = await buy(sku, 1, extra);
      expect(response.status, JSON.stringify(extra)).toBe(status);
      const problem = (await response.json()) as { code: string; errors?: { path: string }[] };
      expect(problem.code).toBe(code);
      if (path) expect(problem.errors?.map((error) => error.path)).toContain(path);
    }
    expect(await stockOf(sku)).toMatchObject({ available: 4, reserved: 0 });
  });

  it("charges no shipping for a cart with nothing that ships, and asks for no method", async () => {
    await useSettings(usShop);
    const sku = await stockedSku(3, undefined, { requiresShipping: false });
    const response = await buy(sku, 1, {});
    expect(response.status).toBe(202);
    const { totals } = await response.json<Priced>();
    expect(totals.shipping.amount).toBe(0);
    expect(totals.total.amount).toBe(1_999);
  });

  it("tell the buyer the subtotal, discount, shipping and tax in their emails", async () => {
    await useSettings(usShop);
    const code = newCode("mail");
    expect((await createCode({ code, kind: "fixed", value: { amount: 100, currency: "USD" } })).status).toBe(
      201,
    );
    const sku = await stockedSku(3);
    const response = await buy(sku, 1, {
      shippingAddress: CALIFORNIA,
      shipping: { method: "ground" },
      discountCode: code,
    });
    expect(response.status).toBe(202);
    const accepted = await response.json<Priced>();
    await settleShards();
    const deadline = Date.now() + 30_000;
    let text = "";
    while (Date.now() < deadline && !text.includes("Total")) {
      await settleShards();
      const listed = await admin(
        "GET",
        `/v1/admin/emails?orderId=${encodeURIComponent(accepted.orderId)}&limit=10`,
      );
      const items = (await listed.json()) as { items: { text: string; html: string; event: string }[] };
      text = items.items.find((email) => email.event === "order.created")?.text ?? "";
      if (!text) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // 1999 - 100 = 1899; tax 7.25 % of 1899 = 137.68 -> 138, of shipping 800 = 58.
    expect(text).toContain("Subtotal: 19.99 USD");
    expect(text).toContain(`Discount (${code.toUpperCase()}): -1.00 USD`);
    expect(text).toContain("Shipping (Ground): 8.00 USD");
    expect(text).toContain("Tax: 1.96 USD");
    expect(text).toContain("Total: 28.95 USD");
  }, 60_000);

  it("leave prices as they are for a shop that set none", async () => {
    await useSettings({});
    const sku = await stockedSku(3);
    const response = await buy(sku, 2, {});
    expect(response.status).toBe(202);
    const { totals, total } = await response.json<Priced>();
    expect(totals).toMatchObject({ subtotal: total, shipping: { amount: 0 }, tax: { amount: 0 } });
    expect(total.amount).toBe(3_998);
  });
});

type Uses = { held: number; used: number; left: number | null };
type DiscountBody = { code: string; uses: Uses; status: string };

const createCode = (body: Record<string, unknown>) => admin("POST", "/v1/admin/discounts", body);
const codeOf = async (code: string) =>
  (await (await admin("GET", `/v1/admin/discounts/${code}`)).json()) as DiscountBody;
const newCode = (prefix: string) =>
  unique(prefix)
    .replaceAll(/[^A-Za-z0-9-]/g, "")
    .slice(0, 40);

async function usesSettle(code: string, expected: Uses, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { uses } = await codeOf(code);
    if (JSON.stringify(uses) === JSON.stringify(expected) || Date.now() > deadline) return uses;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("discount codes", () => {
  it("are created in any case, kept in capitals, and cannot be created twice", async () => {
    await useSettings({});
    const code = newCode("spring");
    const created = await createCode({
      code: code.toLowerCase(),
      kind: "percentage",
      value: 15,
      maxUses: 100,
    });
    expect(created.status).toBe(201);
    const body = (await created.json()) as DiscountBody;
    expect(body.code).toBe(code.toUpperCase());
    expect(body.uses).toEqual({ held: 0, used: 0, left: 100 });
    expect((await codeOf(code.toLowerCase())).code).toBe(code.toUpperCase());
    const again = await createCode({
      code: code.toUpperCase(),
      kind: "fixed",
      value: { amount: 100, currency: "USD" },
    });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { code: string }).code).toBe("discount_code_taken");
    for (const bad of [
      { code: "X!", kind: "percentage", value: 10 },
      { code: newCode("p"), kind: "percentage", value: 12.345 },
      { code: newCode("p"), kind: "percentage", value: { amount: 5, currency: "USD" } },
      { code: newCode("p"), kind: "fixed", value: 5 },
      { code: newCode("p"), kind: "free_shipping", value: 5 },
      { code: newCode("p"), kind: "percentage", value: 10, per: "unit" },
      { code: newCode("p"), kind: "percentage", value: 10, maxUses: 0 },
      { code: newCode("p"), kind: "percentage", value: 10, stack: true },
    ]) {
      expect((await createCode(bad)).status, JSON.stringify(bad)).toBe(400);
    }
  });

  it("take their share off the cart, and count a use held, then used once paid", async () => {
    await useSettings({});
    const code = newCode("tenoff");
    expect((await createCode({ code, kind: "percentage", value: 10, maxUses: 5 })).status).toBe(201);
    const sku = await stockedSku(5);
    const response = await buy(sku, 2, { discountCode: code.toLowerCase() });
    expect(response.status).toBe(202);
    const accepted = await response.json<Priced>();
    // 10 % of 3998 = 399.8 -> 400.
    expect(accepted.totals.discount.amount).toBe(400);
    expect(accepted.total.amount).toBe(3_598);
    expect((await settledOrder(accepted.orderId, accepted.orderToken, 60_000)).status).toBe("paid");
    expect(await usesSettle(code, { held: 0, used: 1, left: 4 })).toEqual({ held: 0, used: 1, left: 4 });
    const order = await (await readOrder(accepted.orderId, accepted.orderToken)).json<{
      discountCode: string;
    }>();
    expect(order.discountCode).toBe(code.toUpperCase());
  });

  it("hold their cap exactly when buyers race for the last uses, refusing the rest before any charge", async () => {
    await useSettings({});
    const code = newCode("first2");
    expect(
      (await createCode({ code, kind: "fixed", value: { amount: 500, currency: "USD" }, maxUses: 2 })).status,
    ).toBe(201);
    const sku = await stockedSku(20);
    const responses = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        postCheckout({
          ...checkoutBody([{ sku, quantity: 1 }], "tok_ok", { discountCode: code }),
          customer: { email: `racer-${i}-${unique("e")}@example.com` },
        }),
      ),
    );
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([202, 202, 409, 409, 409, 409]);
    for (const response of responses.filter((candidate) => candidate.status === 409)) {
      expect(((await response.json()) as { code: string }).code).toBe("discount_exhausted");
    }
    // The refused held nothing: two units held, eighteen available.
    expect(await stockOf(sku)).toMatchObject({ available: 18 });
    expect(await usesSettle(code, { held: 0, used: 2, left: 0 })).toEqual({ held: 0, used: 2, left: 0 });
  }, 120_000);

  it("count a customer by every spelling of their email, and give a failed order's use back", async () => {
    await useSettings({});
    const code = newCode("once");
    expect((await createCode({ code, kind: "percentage", value: 20, maxUsesPerCustomer: 1 })).status).toBe(
      201,
    );
    const sku = await stockedSku(10);
    const declined = await postCheckout({
      ...checkoutBody([{ sku, quantity: 1 }], "tok_declined", { discountCode: code }),
      customer: { email: "jane.doe@gmail.com" },
    });
    expect(declined.status).toBe(202);
    // While the declined order is open, the same customer under another spelling is refused.
    const open = await declined.json<Priced>();
    const twin = await postCheckout({
      ...checkoutBody([{ sku, quantity: 1 }], "tok_ok", { discountCode: code }),
      customer: { email: "JaneDoe+promo@googlemail.com" },
    });
    const settled = await settledOrder(open.orderId, open.orderToken, 60_000);
    expect(settled.status).toBe("payment_failed");
    if (twin.status === 409) {
      expect(((await twin.json()) as { code: string }).code).toBe("discount_exhausted");
      // The failed order gave its use back: the customer can use the code again.
      const retry = await postCheckout({
        ...checkoutBody([{ sku, quantity: 1 }], "tok_ok", { discountCode: code }),
        customer: { email: "Jane.Doe@gmail.com" },
      });
      expect(retry.status).toBe(202);
    } else {
      // The decline was settled before the twin arrived: its use had come back already.
      expect(twin.status).toBe(202);
    }
    const after = await postCheckout({
      ...checkoutBody([{ sku, quantity: 1 }], "tok_ok", { discountCode: code }),
      customer: { email: "janedoe@gmail.com" },
    });
    expect(after.status).toBe(409);
  }, 120_000);

  it("say why they do not apply, and hold nothing", async () => {
    await useSettings({});
    const sku = await stockedSku(3);
    const product = await createProduct();
    const soon = new Date(Date.now() + 3_600_000).toISOString();
    const past = new Date(Date.now() - 3_600_000).toISOString();
    const codes: [Record<string, unknown>, string][] = [
      [{ kind: "percentage", value: 10, startsAt: soon }, "not_started"],
      [{ kind: "percentage", value: 10, endsAt: past }, "expired"],
      [{ kind: "percentage", value: 10, minSubtotal: { amount: 10_000, currency: "USD" } }, "below_minimum"],
      [{ kind: "percentage", value: 10, appliesTo: { products: [product.id] } }, "no_matching_items"],
      [{ kind: "fixed", value: { amount: 100, currency: "EUR" } }, "currency"],
    ];
    for (const [definition, reason] of codes) {
      const code = newCode(reason.replaceAll("_", ""));
      expect((await createCode({ code, ...definition })).status).toBe(201);
      const response = await buy(sku, 1, { discountCode: code });
      expect(response.status, reason).toBe(422);
      const problem = (await response.json()) as { code: string; discount: { reason: string } };
      expect(problem.code).toBe("discount_not_applicable");
      expect(problem.discount.reason).toBe(reason);
    }
    const unknown = await buy(sku, 1, { discountCode: "NO-SUCH-CODE" });
    expect(unknown.status).toBe(422);
    const disabled = newCode("off");
    expect((await createCode({ code: disabled, kind: "percentage", value: 10 })).status).toBe(201);
    const patched = await admin("PATCH", `/v1/admin/discounts/${disabled}`, { status: "disabled" });
    expect(patched.status).toBe(200);
    expect((await buy(sku, 1, { discountCode: disabled })).status).toBe(422);
    expect(await stockOf(sku)).toMatchObject({ available: 3, reserved: 0 });
    // What a code takes off never changes once it exists.
    expect((await admin("PATCH", `/v1/admin/discounts/${disabled}`, { value: 50 })).status).toBe(400);
  });

  it("make shipping free with a free-shipping code", async () => {
    await useSettings(usShop);
    const code = newCode("shipfree");
    expect((await createCode({ code, kind: "free_shipping" })).status).toBe(201);
    const sku = await stockedSku(3);
    const response = await buy(sku, 1, {
      shippingAddress: { ...CALIFORNIA, region: "NV" },
      shipping: { method: "ground" },
      discountCode: code,
    });
    expect(response.status).toBe(202);
    const { totals } = await response.json<Priced>();
    expect(totals).toMatchObject({
      shipping: { amount: 800 },
      discount: { amount: 800 },
      total: { amount: 1_999 },
    });
  });
});

describe("batches of single-use codes", () => {
  it("are generated, exported, each usable once, and tell guesses apart", async () => {
    await useSettings({});
    const prefix = `B${Date.now().toString(36).toUpperCase()}`.slice(0, 12);
    const created = await admin("POST", "/v1/admin/discounts/batches", {
      prefix: prefix.toLowerCase(),
      count: 50,
      kind: "fixed",
      value: { amount: 300, currency: "USD" },
    });
    expect(created.status).toBe(201);
    const batch = (await created.json()) as DiscountBody & { batch: { count: number; codes: string } };
    expect(batch.batch.count).toBe(50);
    expect(JSON.stringify(batch)).not.toContain("key");

    const csv = await admin("GET", batch.batch.codes);
    expect(csv.status).toBe(200);
    expect(csv.headers.get("Content-Type")).toContain("text/csv");
    const codes = (await csv.text()).trim().split("\r\n");
    expect(codes[0]).toBe("code");
    const list = codes.slice(1);
    expect(list).toHaveLength(50);
    expect(new Set(list).size).toBe(50);
    for (const code of list) expect(code).toMatch(new RegExp(`^${prefix}-[A-Z2-7]{12}$`));

    const sku = await stockedSku(10);
    const [first, second] = list as [string, string];
    const used = await buy(sku, 1, { discountCode: first.toLowerCase() });
    expect(used.status).toBe(202);
    const accepted = await used.json<Priced>();
    expect(accepted.totals.discount.amount).toBe(300);
    const again = await postCheckout({
      ...checkoutBody([{ sku, quantity: 1 }], "tok_ok", { discountCode: first }),
      customer: { email: `${unique("other")}@example.com` },
    });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { code: string }).code).toBe("discount_exhausted");
    expect((await buy(sku, 1, { discountCode: second })).status).toBe(202);

    const last = first.at(-1) === "A" ? "B" : "A";
    const guesses = [`${first.slice(0, -1)}${last}`, prefix, `${prefix}-ZZZZAAAAAAAA`, `${prefix}-AAAA`];
    for (const guess of guesses) {
      const response = await buy(sku, 1, { discountCode: guess });
      expect(response.status, guess).toBe(422);
    }
    expect((await settledOrder(accepted.orderId, accepted.orderToken, 60_000)).status).toBe("paid");
  }, 120_000);
});

describe("what the review of the caps found", () => {
  it("never lets a checkout that read a code before its cap was lowered take it back up", async () => {
    await useSettings({});
    const code = newCode("lowered").toUpperCase();
    expect((await createCode({ code, kind: "percentage", value: 10, maxUses: 5 })).status).toBe(201);
    const before = await codeOf(code);
    const sku = await stockedSku(10);
    expect((await buy(sku, 1, { discountCode: code })).status).toBe(202);
    const lowered = await admin("PATCH", `/v1/admin/discounts/${code}`, { maxUses: 1 });
    expect(lowered.status).toBe(200);
    // A checkout at an edge that still has the code as it was: its line carries the old cap.
    const stale = await holdCart(
      env,
      unique("stale-order"),
      [await codeUseLine(code, 5, Date.parse((before as unknown as { updatedAt: string }).updatedAt))],
      Date.now() + 60_000,
    );
    expect(stale.ok).toBe(false);
    const fresh = await postCheckout({
      ...checkoutBody([{ sku, quantity: 1 }], "tok_ok", { discountCode: code }),
      customer: { email: `${unique("late")}@example.com` },
    });
    expect(fresh.status).toBe(409);
  });

  it("refuses a cap added to a code made without one, or removed from one made with it", async () => {
    const code = newCode("uncapped");
    expect((await createCode({ code, kind: "percentage", value: 10, maxUses: 3 })).status).toBe(201);
    for (const patch of [{ maxUsesPerCustomer: 1 }, { maxUses: null }]) {
      const response = await admin("PATCH", `/v1/admin/discounts/${code}`, patch);
      expect(response.status, JSON.stringify(patch)).toBe(400);
    }
    expect((await admin("PATCH", `/v1/admin/discounts/${code}`, { maxUses: 4 })).status).toBe(200);
  });

  it("refunds all that is left, shipping too, when everything goes back to stock", async () => {
    await useSettings(usShop);
    const sku = await stockedSku(5);
    const response = await buy(sku, 2, { shippingAddress: CALIFORNIA, shipping: { method: "ground" } });
    expect(response.status).toBe(202);
    const accepted = await response.json<Priced>();
    expect((await settledOrder(accepted.orderId, accepted.orderToken, 60_000)).status).toBe("paid");
    const refunded = await call(`/v1/admin/orders/${accepted.orderId}/refunds`, {
      method: "POST",
      headers: { ...ADMIN, ...JSON_HEADERS, "Idempotency-Key": unique("refund") },
      body: JSON.stringify({ restock: true }),
    });
    expect(refunded.status).toBe(201);
    expect(((await refunded.json()) as { amount: { amount: number } }).amount.amount).toBe(
      accepted.total.amount,
    );
  });

  it("gives a placed order's retry its 202 while the code cannot be read", async () => {
    await useSettings({});
    const code = newCode("outage");
    expect((await createCode({ code, kind: "percentage", value: 10 })).status).toBe(201);
    const sku = await stockedSku(5);
    const key = unique("key");
    const body = checkoutBody([{ sku, quantity: 1 }], "tok_ok", { discountCode: code });
    const first = await postCheckout(body, key);
    expect(first.status).toBe(202);
    // Forgotten by this isolate (a change), then unreadable: KV and D1 both down.
    expect((await admin("PATCH", `/v1/admin/discounts/${code}`, { endsAt: null })).status).toBe(200);
    const brokenKv = new Proxy(env.CATALOG, {
      get(object, property) {
        if (property === "get") return () => Promise.reject(new Error("KV GET failed: simulated outage"));
        const value = Reflect.get(object, property);
        return typeof value === "function" ? value.bind(object) : value;
      },
    });
    const retry = await postCheckout(body, key, {}, { CATALOG: brokenKv, DB: brokenD1 });
    expect(retry.status).toBe(202);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    const fresh = await postCheckout(body, unique("key"), {}, { CATALOG: brokenKv, DB: brokenD1 });
    expect(fresh.status).toBe(503);
    expect(fresh.headers.get("Retry-After")).toBeTruthy();
  });

  it("refuses a code that takes nothing off, or would make the order free", async () => {
    await useSettings({});
    const sku = await stockedSku(5, undefined, { requiresShipping: false });
    const free = newCode("nothing");
    expect((await createCode({ code: free, kind: "free_shipping", maxUses: 1 })).status).toBe(201);
    const nothing = await buy(sku, 1, { discountCode: free });
    expect(nothing.status).toBe(422);
    expect(((await nothing.json()) as { discount: { reason: string } }).discount.reason).toBe(
      "nothing_to_take",
    );
    expect((await codeOf(free)).uses).toEqual({ held: 0, used: 0, left: 1 });
    const all = newCode("all");
    expect((await createCode({ code: all, kind: "percentage", value: 100 })).status).toBe(201);
    const zero = await buy(sku, 1, { discountCode: all });
    expect(zero.status).toBe(422);
    expect(((await zero.json()) as { discount: { reason: string } }).discount.reason).toBe("order_free");
  });
});

describe("regions spelled out", () => {
  it("get the region's rate and zone, as its ISO 3166-2 code does, in any case, with or without accents", async () => {
    await useSettings({
      ...usShop,
      taxRates: [...usShop.taxRates, { country: "CA", region: "Québec", rate: 15 }],
      zones: [
        ...usShop.zones,
        {
          id: "qc",
          name: "Quebec",
          countries: [{ country: "CA", regions: ["QC"] }],
          methods: [{ id: "post", name: "Postes", currency: "USD", rate: { kind: "flat", amount: 1_000 } }],
        },
      ],
    });
    const sku = await stockedSku(10);
    const methods = async (country: string, region: string) =>
      (
        (await (
          await call(
            `/v1/shipping-methods?country=${country}&region=${encodeURIComponent(region)}&items=${sku}:1`,
          )
        ).json()) as { methods: { id: string; price: { amount: number } }[] }
      ).methods.map((method) => [method.id, method.price.amount]);
    // California's rate on shipping (7.25 % of 800 = 58), however the address names it.
    for (const region of ["CA", "California", "CALIFORNIA", " california ", "US-CA"]) {
      expect(await methods("US", region), region).toEqual([
        ["ground", 858],
        ["express", 2_681],
      ]);
    }
    expect(await methods("US", "Texas")).toEqual([
      ["ground", 800],
      ["express", 2_500],
    ]);
    // A zone naming QC ships to "Quebec" and "québec"; a rate written "Québec" taxes "QC".
    for (const region of ["QC", "Quebec", "québec", "CA-QC"]) {
      expect(await methods("CA", region), region).toEqual([["post", 1_000]]);
    }
    const response = await buy(sku, 1, {
      shippingAddress: { ...CALIFORNIA, region: "California" },
      shipping: { method: "ground" },
    });
    expect(response.status).toBe(202);
    // 1999 + 800 shipping; tax 7.25 % of 1999 = 144.93 -> 145, of 800 = 58.
    expect((await response.json<Priced>()).totals).toMatchObject({
      tax: { amount: 203 },
      total: { amount: 3_002 },
    });
    const quebec = await stockedSku(10);
    const taxed = await buy(quebec, 1, {
      shippingAddress: {
        line1: "1 rue Sainte-Catherine",
        city: "Montréal",
        postalCode: "H2X 1K4",
        region: "QC",
        country: "CA",
      },
      shipping: { method: "post" },
    });
    expect(taxed.status).toBe(202);
    // 15 % of 1999 = 299.85 -> 300; shipping into this zone is not taxed.
    expect((await taxed.json<Priced>()).totals).toMatchObject({
      tax: { amount: 300 },
      total: { amount: 3_299 },
    });
  });
});

describe("the gateway's minimum charge with tax on top", () => {
  it("names the code when the cart without it could be charged, though the total plus the code's amount could not", async () => {
    // Exclusive tax in California (7.25 %) and no shipping zones: 47 cents pay 3 of tax, 50 in all.
    await useSettings({ taxMode: "exclusive", taxRates: [{ country: "US", region: "CA", rate: 7.25 }] });
    const product = await createProduct({
      variants: [
        {
          sku: `${unique("MIN").toUpperCase()}-A`,
          title: "A",
          price: { amount: 47, currency: "USD" },
          attributes: {},
        },
      ],
    });
    const sku = product.variants[0]?.sku ?? "";
    expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 5 })).status).toBe(200);
    const code = newCode("TAXED").toUpperCase();
    const created = await createCode({ code, kind: "fixed", value: { amount: 40, currency: "USD" } });
    expect(created.status).toBe(201);
    // With the code: 7 + 1 of tax = 8; 8 + 40 = 48 is below 50, yet the cart alone is 50.
    const refused = await buy(sku, 1, { shippingAddress: CALIFORNIA, discountCode: code });
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({
      code: "discount_not_applicable",
      discount: { code, reason: "below_charge_minimum" },
      minimum: { amount: 50, currency: "USD" },
    });
    const alone = await buy(sku, 1, { shippingAddress: CALIFORNIA });
    expect(alone.status).toBe(202);
    expect((await alone.json<Priced>()).totals.total.amount).toBe(50);
  });
});
