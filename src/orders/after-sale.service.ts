import { sha256Hex } from "../shared/crypto";
import { AppError } from "../shared/errors";
import type { AfterSaleResult, FulfillArgs, RefundArgs } from "./after-sale.args";
import type { Order } from "./orders.schemas";
import { orderShard, shardOfOrder } from "./shards";

/**
 * The day after the sale, from the admin's side: an order's detail, refunds, the shop's cancel,
 * fulfilments one by one. Each goes to the order's shard, which decides it like every other change of
 * the order (see lifecycle/after-sale.ts); D1 is only read for searching and exporting.
 */
function shardFor(env: Env, id: string) {
  const shard = shardOfOrder(env, id);
  if (shard === null) {
    throw new AppError("order_not_found", { detail: `No order ${id}` });
  }
  return orderShard(env, shard);
}

function settled<T>(id: string, result: AfterSaleResult<T>): { made: T; replayed: boolean; order: Order } {
  if (!result) throw new AppError("order_not_found", { detail: `No order ${id}` });
  if (!result.ok) {
    const code = result.code as
      | "order_not_refundable"
      | "refund_exceeds_captured"
      | "idempotency_key_mismatch"
      | "order_not_fulfillable"
      | "order_not_cancellable";
    throw new AppError(code, { detail: result.detail });
  }
  return result;
}

/** An order as the shop sees it, with its timeline. */
export async function adminOrder(env: Env, id: string): Promise<Order> {
  const order = await shardFor(env, id).adminOrder(id);
  if (!order) throw new AppError("order_not_found", { detail: `No order ${id}` });
  return order;
}

export type RefundBody = Omit<RefundArgs, "keyHash" | "fingerprint">;

/**
 * Refunds (part of) a paid order under an Idempotency-Key: the same key with the same body answers the
 * refund made; with another body it is refused. Answers once the gateway has been asked (the refund is
 * `pending` if it could not answer yet; the shard keeps asking).
 */
export async function refundOrder(env: Env, id: string, key: string, body: RefundBody) {
  const [keyHash, fingerprint] = await Promise.all([
    sha256Hex(`refund|${key}`),
    sha256Hex(
      JSON.stringify([
        body.amount ?? null,
        body.currency ?? null,
        body.lines ?? null,
        body.restock,
        body.reason ?? null,
      ]),
    ),
  ]);
  return settled(id, await shardFor(env, id).refund(id, { ...body, keyHash, fingerprint }));
}

/** Cancels an order for the shop: see OrderShard.cancelByShop. */
export async function cancelByShop(env: Env, id: string) {
  return settled(id, await shardFor(env, id).cancelByShop(id));
}

export async function fulfilOrder(env: Env, id: string, body: FulfillArgs) {
  return settled(id, await shardFor(env, id).fulfil(id, body));
}
