import { env } from "cloudflare:workers";
import { expect } from "vitest";
import {
  type Accepted,
  ADMIN,
  admin,
  call,
  checkoutBody,
  JSON_HEADERS,
  postCheckout,
  settledOrder,
  settleShards,
  stockedSku,
  unique,
} from "./helpers";

// What the tests of the day after the sale share: paid orders with an address, and the admin's calls.
export const ADDRESS = {
  name: "Ada Lovelace",
  line1: "12 Analytical Row",
  city: "London",
  postalCode: "N1 9GU",
  country: "GB",
};

export type Money = { amount: number; currency: string };
export type Refund = {
  id: string;
  amount: Money;
  lines?: { sku: string; quantity: number }[];
  restock: boolean;
  restocked: boolean;
  status: string;
};
export type AdminOrder = {
  id: string;
  status: string;
  customer: { email: string; name?: string };
  shippingAddress?: typeof ADDRESS;
  totals: Record<string, Money>;
  total: Money;
  refunds: Refund[];
  fulfillmentStatus: string;
  fulfillments: {
    id: string;
    lines: { sku: string; quantity: number }[];
    carrier: string;
    trackingNumber: string;
  }[];
  cancelledAt?: string;
  payment: { status: string; refunded?: Money };
  timeline?: { event: string; detail?: string }[];
};

/** A paid order of `lines` (SKU, quantity) from stock of `onHand` each, with an address. */
export async function paidOrder(
  lines: { quantity: number; onHand?: number }[],
  email = `${unique("buyer")}@example.com`,
) {
  const skus = await Promise.all(lines.map((line) => stockedSku(line.onHand ?? 10)));
  const response = await postCheckout({
    ...checkoutBody(
      skus.map((sku, i) => ({ sku, quantity: lines[i]?.quantity ?? 1 })),
      "tok_ok",
    ),
    customer: { email, name: "Ada Lovelace" },
    shippingAddress: ADDRESS,
  });
  expect(response.status).toBe(202);
  const accepted = await response.json<Accepted>();
  expect((await settledOrder(accepted.orderId, accepted.orderToken, 60_000)).status).toBe("paid");
  return { skus, accepted };
}

export const adminOrder = async (id: string) =>
  (await admin("GET", `/v1/admin/orders/${id}`)).json<AdminOrder>();

export function refund(id: string, body: unknown, key = unique("refund")) {
  return call(`/v1/admin/orders/${id}/refunds`, {
    method: "POST",
    headers: { ...ADMIN, ...JSON_HEADERS, "Idempotency-Key": key },
    body: JSON.stringify(body),
  });
}

export const fulfil = (id: string, body: unknown) =>
  admin("POST", `/v1/admin/orders/${id}/fulfillments`, body);

/** Has every shard work through what it owes until the order's refunds are settled. */
export async function refundsSettle(id: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await settleShards();
    const order = await adminOrder(id);
    const open = order.refunds.some(
      (made) => made.status === "pending" || (made.status === "succeeded" && made.restock && !made.restocked),
    );
    if (!open || Date.now() > deadline) return order;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export const simulator = () => env.SIMULATOR.getByName("simulator");
