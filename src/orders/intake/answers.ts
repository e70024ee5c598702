import type { ShortSku } from "../../inventory/inventory.holds";
import { base64url, sha256Hex } from "../../shared/crypto";
import { type Problem, problemResponse } from "../../shared/errors";
import type { AcceptedOrder } from "../lifecycle/order";
import { totalsOf } from "../orders.view";
import type { StoredResponse } from "../protocol";
import type { CheckoutAccepted } from "./checkout.schemas";

/**
 * The answers checkout gives, built the same way wherever they are given: by the worker (refusals
 * that change nothing) and by the order shard (answers stored under the Idempotency-Key).
 */
export function shortage(short: ShortSku[]): Problem {
  return {
    code: "insufficient_stock",
    detail: "Some items do not have enough stock; nothing was held",
    extensions: { skus: short },
  };
}

async function storedFrom(response: Response): Promise<StoredResponse> {
  return {
    status: response.status,
    headers: Object.fromEntries(response.headers),
    body: await response.text(),
  };
}

export function storedProblem(problem: Problem, requestId: string): Promise<StoredResponse> {
  return storedFrom(problemResponse(problem, requestId));
}

/** An order token: 256 random bits, base64url. Only its SHA-256 is stored. */
export async function newOrderToken(): Promise<{ token: string; hash: string }> {
  const token = base64url(crypto.getRandomValues(new Uint8Array(32)));
  return { token, hash: await sha256Hex(token) };
}

/** The 202 of an accepted order; the order token appears here and nowhere else. */
export function acceptedResponse(order: AcceptedOrder, orderToken: string): StoredResponse {
  const body: CheckoutAccepted = {
    orderId: order.id,
    orderToken,
    status: "pending_payment",
    total: order.total,
    totals: totalsOf(order.items, order.total, order.pricing),
    items: order.items.map(({ sku, quantity, unitPrice, title }) => ({ sku, quantity, unitPrice, title })),
    holdExpiresAt: order.holdExpiresAt,
  };
  return {
    status: 202,
    headers: { "Content-Type": "application/json", Location: `/v1/orders/${order.id}` },
    body: JSON.stringify(body),
  };
}
