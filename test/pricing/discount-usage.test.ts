import { describe, expect, it } from "vitest";
import {
  type Accepted,
  admin,
  brokenD1,
  call,
  checkoutBody,
  postCheckout,
  settledOrder,
  settleShards,
  stockedSku,
  unique,
} from "../helpers";

/** The usage report of a code: what its orders came to, from D1's orders, for the /admin screen. */

type Usage = {
  code: string;
  since: string;
  orders: Record<"pending_payment" | "paid" | "payment_failed" | "cancelled", number>;
  codesUsed?: number;
  byCurrency: {
    currency: string;
    paidOrders: number;
    revenue: { amount: number };
    discountGiven: { amount: number };
    refunded: { amount: number };
  }[];
};

const newCode = (prefix: string) =>
  unique(prefix)
    .replaceAll(/[^A-Za-z0-9-]/g, "")
    .slice(0, 40);

const buy = (sku: string, code: string, token = "tok_ok", email = `${unique("u")}@example.com`) =>
  postCheckout({
    ...checkoutBody([{ sku, quantity: 1 }], token, { discountCode: code }),
    customer: { email },
  });

/** The report once D1 has caught up with what `done` expects of it. */
async function usageSettles(code: string, done: (usage: Usage) => boolean, timeoutMs = 45_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await settleShards();
    const response = await admin("GET", `/v1/admin/discounts/${code}/usage`);
    expect(response.status).toBe(200);
    const usage = (await response.json()) as Usage;
    if (done(usage) || Date.now() > deadline) return usage;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe("a discount code's usage report", () => {
  it("counts its orders by status, and the paid ones' revenue and discount per currency", async () => {
    expect((await admin("PUT", "/v1/admin/pricing", {})).status).toBe(200);
    const code = newCode("report");
    const created = await admin("POST", "/v1/admin/discounts", {
      code,
      kind: "fixed",
      value: { amount: 250, currency: "USD" },
    });
    expect(created.status).toBe(201);
    const sku = await stockedSku(10);
    const paid = [await buy(sku, code), await buy(sku, code.toLowerCase())];
    const declined = await buy(sku, code, "tok_declined");
    for (const response of [...paid, declined]) expect(response.status).toBe(202);
    const orders = await Promise.all([...paid, declined].map((response) => response.json<Accepted>()));
    for (const order of orders) await settledOrder(order.orderId, order.orderToken, 60_000);

    const usage = await usageSettles(
      code.toUpperCase(),
      (u) => u.orders.paid === 2 && u.orders.payment_failed === 1,
    );
    expect(usage.orders).toEqual({ pending_payment: 0, paid: 2, payment_failed: 1, cancelled: 0 });
    expect(usage.codesUsed).toBeUndefined();
    // The SKU costs 19.99; 2.50 off each of the two paid orders.
    expect(usage.byCurrency).toEqual([
      {
        currency: "USD",
        paidOrders: 2,
        revenue: { amount: 2 * (1_999 - 250), currency: "USD" },
        discountGiven: { amount: 500, currency: "USD" },
        refunded: { amount: 0, currency: "USD" },
      },
    ]);
  }, 120_000);

  it("counts a batch over every code under its prefix, and how many of them were used", async () => {
    expect((await admin("PUT", "/v1/admin/pricing", {})).status).toBe(200);
    const prefix = `U${Date.now().toString(36).toUpperCase()}`.slice(0, 12);
    const batch = await admin("POST", "/v1/admin/discounts/batches", {
      prefix,
      count: 5,
      kind: "percentage",
      value: 10,
    });
    expect(batch.status).toBe(201);
    const codes = (await (await admin("GET", `/v1/admin/discounts/${prefix}/codes.csv`)).text())
      .trim()
      .split("\r\n")
      .slice(1);
    const sku = await stockedSku(10);
    const accepted = await Promise.all(
      [codes[0], codes[1]].map(async (code) => (await buy(sku, code ?? "")).json<Accepted>()),
    );
    for (const order of accepted) await settledOrder(order.orderId, order.orderToken, 60_000);
    const usage = await usageSettles(prefix, (u) => u.orders.paid === 2);
    expect(usage.orders.paid).toBe(2);
    expect(usage.codesUsed).toBe(2);
    // 10 % of 19.99 = 199.9 -> 200 off each.
    expect(usage.byCurrency[0]?.discountGiven.amount).toBe(400);
  }, 120_000);

  it("answers 404 for an unknown code, 401 without the token, and 503 while D1 is down", async () => {
    expect((await admin("GET", `/v1/admin/discounts/${newCode("none")}/usage`)).status).toBe(404);
    expect((await call("/v1/admin/discounts/ANYCODE/usage")).status).toBe(401);
    const code = newCode("down");
    expect((await admin("POST", "/v1/admin/discounts", { code, kind: "free_shipping" })).status).toBe(201);
    const down = await admin("GET", `/v1/admin/discounts/${code}/usage`, undefined, { DB: brokenD1 });
    expect(down.status).toBe(503);
    expect(down.headers.get("Retry-After")).not.toBeNull();
  });
});
