import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  type Accepted,
  ADMIN,
  admin,
  brokenD1,
  call,
  checkoutBody,
  JSON_HEADERS,
  postCheckout,
  stockedSku,
  stockOf,
  unique,
} from "../helpers";

/**
 * POST /v1/quotes: the storefront's totals before "Place order", priced by the code checkout prices
 * with, holding nothing.
 */
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
        { id: "express", name: "Express", currency: "USD", rate: { kind: "flat", amount: 2_500 } },
      ],
    },
  ],
};
const CALIFORNIA = {
  line1: "1 Market St",
  city: "San Francisco",
  region: "CA",
  postalCode: "94105",
  country: "US",
};

type Money = { amount: number; currency: string };
type Totals = Record<"subtotal" | "discount" | "shipping" | "tax" | "total", Money> & {
  taxIncluded: boolean;
};
type QuoteBody = {
  items: { sku: string; discount: Money; tax: Money; charged: Money }[];
  totals: Totals;
  shippingPending: boolean;
  shippingMethod?: { id: string };
  discountCode?: string;
};
type ProblemBody = { code: string; discount?: { reason: string }; errors?: { path: string }[] };

async function useSettings(body: unknown) {
  const response = await call("/v1/admin/pricing", {
    method: "PUT",
    headers: { ...ADMIN, ...JSON_HEADERS },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
}

const quote = (body: unknown, bindings: Partial<Env> = {}) =>
  call(
    "/v1/quotes",
    {
      method: "POST",
      headers: { ...JSON_HEADERS, "CF-Connecting-IP": `10.9.${Math.floor(Math.random() * 250)}.1` },
      body: typeof body === "string" ? body : JSON.stringify(body),
    },
    bindings,
  );

const newCode = (prefix: string) =>
  unique(prefix)
    .replaceAll(/[^A-Za-z0-9-]/g, "")
    .slice(0, 40);

const usesOf = async (code: string) =>
  ((await (await admin("GET", `/v1/admin/discounts/${code}`)).json()) as { uses: unknown }).uses;

describe("quotes", () => {
  it("price a cart with its code, method and address as checkout then charges it, holding nothing", async () => {
    await useSettings(usShop);
    const code = newCode("quote");
    const created = await admin("POST", "/v1/admin/discounts", {
      code,
      kind: "percentage",
      value: 10,
      maxUses: 2,
      maxUsesPerCustomer: 1,
    });
    expect(created.status).toBe(201);
    const sku = await stockedSku(5);
    const body = {
      items: [{ sku, quantity: 3 }],
      shipTo: { country: "US", region: "CA" },
      shipping: { method: "ground" },
      discountCode: code.toLowerCase(),
    };
    const response = await quote(body);
    expect(response.status).toBe(200);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    const quoted = await response.json<QuoteBody>();
    // 3 x 1999 = 5997; 10 % off = 600; tax 7.25 % of 5397 = 391, of shipping 800 = 58.
    const usd = (amount: number) => ({ amount, currency: "USD" });
    expect(quoted.totals).toEqual({
      subtotal: usd(5_997),
      discount: usd(600),
      shipping: usd(800),
      tax: usd(449),
      total: usd(6_646),
      taxIncluded: false,
    });
    expect(quoted).toMatchObject({
      shippingPending: false,
      shippingMethod: { id: "ground" },
      discountCode: code.toUpperCase(),
    });
    expect(quoted.items).toEqual([
      expect.objectContaining({ sku, discount: usd(600), tax: usd(391), charged: usd(5_788) }),
    ]);

    // Nothing held: no stock, no use of the code's cap.
    expect(await stockOf(sku)).toMatchObject({ available: 5, reserved: 0 });
    expect(await usesOf(code)).toEqual({ held: 0, used: 0, left: 2 });

    const placed = await postCheckout(
      checkoutBody(body.items, "tok_ok", {
        shippingAddress: CALIFORNIA,
        shipping: body.shipping,
        discountCode: body.discountCode,
      }),
    );
    expect(placed.status).toBe(202);
    const accepted = await placed.json<Accepted & { totals: Totals }>();
    const { taxIncluded: _included, ...totals } = quoted.totals;
    expect(accepted.totals).toMatchObject(totals);
    expect(accepted.total).toEqual(quoted.totals.total);
  });

  it("price a cart that ships without shipping until the address and method are chosen", async () => {
    await useSettings(usShop);
    const sku = await stockedSku(5);
    const items = [{ sku, quantity: 1 }];
    for (const partial of [{ items }, { items, shipTo: { country: "US", region: "CA" } }]) {
      const response = await quote(partial);
      expect(response.status).toBe(200);
      const quoted = await response.json<QuoteBody>();
      expect(quoted.shippingPending).toBe(true);
      expect(quoted.totals.shipping.amount).toBe(0);
      expect(quoted.shippingMethod).toBeUndefined();
    }
    // An address the shop does not ship to, or a method it does not offer there: as checkout says.
    const nowhere = await quote({ items, shipTo: { country: "FR" }, shipping: { method: "ground" } });
    expect(nowhere.status).toBe(422);
    expect((await nowhere.json<ProblemBody>()).code).toBe("shipping_unavailable");
    const unoffered = await quote({ items, shipTo: { country: "US" }, shipping: { method: "teleport" } });
    expect(unoffered.status).toBe(400);
    expect((await unoffered.json<ProblemBody>()).errors?.map((error) => error.path)).toEqual([
      "shipping.method",
    ]);
  });

  it("price a cart with nothing that ships with no shipping to choose", async () => {
    await useSettings(usShop);
    const sku = await stockedSku(5, undefined, { requiresShipping: false });
    const response = await quote({ items: [{ sku, quantity: 2 }] });
    expect(response.status).toBe(200);
    const quoted = await response.json<QuoteBody>();
    expect(quoted.shippingPending).toBe(false);
    expect(quoted.totals.total.amount).toBe(3_998);
  });

  it("say why a code does not apply, as checkout would, and hold nothing", async () => {
    await useSettings(usShop);
    const sku = await stockedSku(3);
    const expired = newCode("gone");
    const past = new Date(Date.now() - 3_600_000).toISOString();
    expect(
      (
        await admin("POST", "/v1/admin/discounts", {
          code: expired,
          kind: "percentage",
          value: 10,
          endsAt: past,
        })
      ).status,
    ).toBe(201);
    const free = newCode("free");
    expect(
      (await admin("POST", "/v1/admin/discounts", { code: free, kind: "percentage", value: 100 })).status,
    ).toBe(201);
    const cases: [string, string][] = [
      ["NO-SUCH-CODE", "unknown"],
      ["!!", "unknown"],
      [expired, "expired"],
    ];
    for (const [code, reason] of cases) {
      const response = await quote({ items: [{ sku, quantity: 1 }], discountCode: code });
      expect(response.status, code).toBe(422);
      expect(response.headers.get("Content-Type")).toContain("application/problem+json");
      const problem = await response.json<ProblemBody>();
      expect(problem.code).toBe("discount_not_applicable");
      expect(problem.discount?.reason).toBe(reason);
    }
    // A whole-cart 100 % code with shipping chosen makes the order free: refused, as at checkout.
    const freeQuote = await quote({
      items: [{ sku, quantity: 1 }],
      shipTo: { country: "US", region: "CA" },
      shipping: { method: "ground" },
      discountCode: free,
    });
    expect(freeQuote.status).toBe(200);
    expect((await freeQuote.json<QuoteBody>()).totals.total.amount).toBe(858);
    await useSettings({});
    const freeOrder = await quote({ items: [{ sku, quantity: 1 }], discountCode: free });
    expect(freeOrder.status).toBe(422);
    expect((await freeOrder.json<ProblemBody>()).discount?.reason).toBe("order_free");
    expect(await stockOf(sku)).toMatchObject({ available: 3, reserved: 0 });
  });

  it("refuse bad input with a 400 naming the field", async () => {
    const sku = await stockedSku(3);
    const cases: [unknown, string][] = [
      [{ items: [] }, "items"],
      [{ items: [{ sku, quantity: 0 }] }, "items.0.quantity"],
      [{ items: [{ sku, quantity: 1.5 }] }, "items.0.quantity"],
      [{ items: [{ sku: "NO-SUCH-SKU", quantity: 1 }] }, "items.0.sku"],
      [{ items: [{ sku, quantity: 1 }], shipTo: { country: "us" } }, "shipTo.country"],
      [{ items: [{ sku, quantity: 1 }], shipTo: { country: "US", line1: "x" } }, "shipTo.line1"],
      [{ items: [{ sku, quantity: 1 }], price: 1 }, "price"],
    ];
    for (const [body, path] of cases) {
      const response = await quote(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const problem = await response.json<ProblemBody>();
      expect(problem.code).toBe("validation_failed");
      expect(problem.errors?.map((error) => error.path)).toContain(path);
    }
    expect((await quote("{not json")).status).toBe(400);
  });

  it("price from KV while D1 is down", async () => {
    await useSettings(usShop);
    const code = newCode("outage");
    expect((await admin("POST", "/v1/admin/discounts", { code, kind: "percentage", value: 50 })).status).toBe(
      201,
    );
    const sku = await stockedSku(3);
    const body = {
      items: [{ sku, quantity: 1 }],
      shipTo: { country: "US", region: "CA" },
      shipping: { method: "express" },
      discountCode: code,
    };
    const healthy = await (await quote(body)).json<QuoteBody>();
    const response = await quote(body, { DB: brokenD1 });
    expect(response.status).toBe(200);
    expect((await response.json<QuoteBody>()).totals).toEqual(healthy.totals);
  });

  it("answer 503 with Retry-After when neither KV nor D1 can be read", async () => {
    const sku = await stockedSku(3);
    // A change makes this isolate forget the settings it remembered.
    await useSettings(usShop);
    const brokenKv = new Proxy(env.CATALOG, {
      get(object, property) {
        if (property === "get") return () => Promise.reject(new Error("KV GET failed: simulated outage"));
        const value = Reflect.get(object, property);
        return typeof value === "function" ? value.bind(object) : value;
      },
    });
    const response = await quote({ items: [{ sku, quantity: 1 }] }, { DB: brokenD1, CATALOG: brokenKv });
    expect(response.status).toBe(503);
    expect(response.headers.get("Retry-After")).toBeTruthy();
    expect((await response.json<ProblemBody>()).code).toBe("service_unavailable");
  });
});
